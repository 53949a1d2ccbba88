'use strict';
// An independent JOSE implementation (panva/jose 4.x) playing Google for
// otpgate's interoperability test (../../interop_test.go).
//
// Reads {"jobs": [...]} on stdin and writes {"results": [...]} on stdout, one
// result per job, so that one node process serves a whole test:
//
//   {"op": "seal", "payload": base64, "signKey": private JWK, "sigAlg": "RS256",
//    "encKey": public JWK, "alg": "RSA1_5", "enc": "A128CBC-HS256", "zip": bool}
//     -> {"jwe": compact JWE holding a compact JWS of payload}
//   {"op": "open", "jwe": compact, "decKey": private JWK, "verifyKey": public JWK,
//    "alg": ..., "enc": ..., "sigAlg": ...}
//     -> {"payload": base64, "jweHeader": {...}, "jwsHeader": {...}}
//   any failure -> {"error": "..."}
//
// Every algorithm is pinned per job, as the Go side does. RSA1_5 decryption
// needs `node --security-revert=CVE-2023-46809` on Node 20's OpenSSL 3.0.
const jose = require('jose');

async function seal(job) {
  const signKey = await jose.importJWK(job.signKey, job.sigAlg);
  const jws = await new jose.CompactSign(Buffer.from(job.payload, 'base64'))
    .setProtectedHeader({ alg: job.sigAlg, kid: job.signKey.kid })
    .sign(signKey);
  const encKey = await jose.importJWK(job.encKey, job.alg);
  const header = { alg: job.alg, enc: job.enc, kid: job.encKey.kid };
  if (job.zip) header.zip = 'DEF';
  const jwe = await new jose.CompactEncrypt(Buffer.from(jws))
    .setProtectedHeader(header)
    .encrypt(encKey);
  return { jwe };
}

async function open(job) {
  const decKey = await jose.importJWK(job.decKey, job.alg);
  const { plaintext, protectedHeader: jweHeader } = await jose.compactDecrypt(job.jwe, decKey, {
    keyManagementAlgorithms: [job.alg],
    contentEncryptionAlgorithms: [job.enc],
  });
  const verifyKey = await jose.importJWK(job.verifyKey, job.sigAlg);
  const { payload, protectedHeader: jwsHeader } = await jose.compactVerify(
    Buffer.from(plaintext).toString('ascii'),
    verifyKey,
    { algorithms: [job.sigAlg] },
  );
  return { payload: Buffer.from(payload).toString('base64'), jweHeader, jwsHeader };
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const { jobs } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const results = [];
  for (const job of jobs) {
    try {
      if (job.op === 'seal') results.push(await seal(job));
      else if (job.op === 'open') results.push(await open(job));
      else throw new Error(`unknown op ${job.op}`);
    } catch (err) {
      results.push({ error: `${err.code || err.name}: ${err.message}` });
    }
  }
  process.stdout.write(JSON.stringify({ results }));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
