package jose

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/testutil/nodepeer"
)

// The interoperability test runs testdata/interop/interop.cjs under node with
// panva/jose, an implementation that shares no code with go-jose, pinned by
// testdata/interop/package-lock.json and installed by nodepeer (skipped
// loudly without node, failed under CI=true).

const interopDir = "testdata/interop"

type nodeJose struct {
	node    string
	args    []string // node flags before the script
	modules string   // NODE_PATH
	script  string
}

var interop struct {
	once sync.Once
	n    *nodeJose
}

func interopNode(t *testing.T) *nodeJose {
	t.Helper()
	node, modules := nodepeer.Require(t, "JOSE interoperability test against panva/jose", interopDir, "jose", "jose")
	interop.once.Do(func() { interop.n = newNodeJose(node, modules) })
	return interop.n
}

func newNodeJose(node, modules string) *nodeJose {
	script, _ := filepath.Abs(filepath.Join(interopDir, "interop.cjs"))
	n := &nodeJose{node: node, modules: modules, script: script}
	// Node 20 on OpenSSL 3.0 refuses RSA PKCS#1 v1.5 decryption (the Marvin
	// attack, CVE-2023-46809) unless told otherwise; RSA1_5 is what Google
	// uses. Node versions without the switch are run without it.
	const revert = "--security-revert=CVE-2023-46809"
	if exec.Command(node, revert, "-e", "").Run() == nil {
		n.args = []string{revert}
	}
	return n
}

// run hands jobs to interop.cjs and returns its results, one per job.
func (n *nodeJose) run(t *testing.T, jobs []map[string]any) []map[string]any {
	t.Helper()
	in, err := json.Marshal(map[string]any{"jobs": jobs})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(n.node, append(n.args, n.script)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+n.modules)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", n.script, err, stderr.Bytes())
	}
	// The answer is the last line: node may print warnings on stdout before
	// it (the security revert does).
	out = bytes.TrimSpace(out)
	out = out[bytes.LastIndexByte(out, '\n')+1:]
	var res struct{ Results []map[string]any }
	if err := json.Unmarshal(out, &res); err != nil || len(res.Results) != len(jobs) {
		if len(out) > 500 {
			out = append(out[:500:500], "…"...)
		}
		t.Fatalf("node answered %q (%v), want %d results", out, err, len(jobs))
	}
	return res.Results
}

func publicJWK(t *testing.T, k *Key) json.RawMessage  { return jwkOf(t, k.Public()) }
func privateJWK(t *testing.T, k *Key) json.RawMessage { return jwkOf(t, k) }

type interopCase struct {
	keyAlg, enc, sigAlg string
	zip                 bool
}

func (c interopCase) String() string {
	return fmt.Sprintf("%s/%s/%s/zip=%v", c.keyAlg, c.enc, c.sigAlg, c.zip)
}

var interopCases = []interopCase{
	{"RSA1_5", "A128CBC-HS256", "RS256", false}, // what Google sends (SPEC §5)
	{"RSA1_5", "A128CBC-HS256", "RS256", true},
	{"RSA1_5", "A256CBC-HS512", "PS256", true},
	{"RSA-OAEP-256", "A256CBC-HS512", "PS256", false},
	{"RSA-OAEP-256", "A128CBC-HS256", "RS256", true},
}

// interopPayloads: the usual body, and a larger one that compression shrinks.
var interopPayloads = [][]byte{
	payload,
	[]byte(`{"clientMessage":"` + strings.Repeat("0123456789", 400) + `"}`),
}

func TestInteropNodeJoseSealsGoOpens(t *testing.T) {
	interopNodeSealsGoOpens(t, newParties(t), interopCases)
}

// interopNodeSealsGoOpens has node seal to p.ours[0] (a key in a file, or in
// a token: hsm_test.go) and our server open it, for each case.
func interopNodeSealsGoOpens(t *testing.T, p parties, interopCases []interopCase) {
	n := interopNode(t)
	// Our "exp" member must not trouble another implementation.
	p.ours[0].Expires, p.google[0].Expires = t0.Add(365*24*time.Hour), t0.Add(365*24*time.Hour)
	var jobs []map[string]any
	for _, c := range interopCases {
		for _, pl := range interopPayloads {
			jobs = append(jobs, map[string]any{
				"op": "seal", "payload": base64.StdEncoding.EncodeToString(pl),
				"signKey": privateJWK(t, p.google[0]), "sigAlg": c.sigAlg,
				"encKey": publicJWK(t, p.ours[0]), "alg": c.keyAlg, "enc": c.enc, "zip": c.zip,
			})
		}
	}
	results := n.run(t, jobs)
	for i, res := range results {
		c, pl := interopCases[i/len(interopPayloads)], interopPayloads[i%len(interopPayloads)]
		t.Run(fmt.Sprintf("%v/%d", c, i%len(interopPayloads)), func(t *testing.T) {
			body, ok := res["jwe"].(string)
			if !ok {
				t.Fatalf("node could not seal: %v", res["error"])
			}
			if h := header(t, body); h["kid"] != p.ours[0].ID || (h["zip"] == "DEF") != c.zip {
				t.Errorf("node's JWE header %v", h)
			}
			server := p.server(t, allowAll(c.keyAlg, c.enc, c.sigAlg, false))
			got, err := server.Open([]byte(body))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, pl) {
				t.Fatalf("Open returned %q, want %q", got, pl)
			}
			// And what node sealed is refused when tampered with or when the
			// algorithm is not allowed: the Open above was not a fluke.
			_, err = server.Open([]byte(flip(t, body, 3)))
			wantErr(t, err, envelope.ErrUndecryptable)
			if c.keyAlg != "RSA1_5" || c.enc != "A128CBC-HS256" {
				_, err = p.server(t, Options{SignatureAlgorithms: []string{c.sigAlg}}).Open([]byte(body))
				wantErr(t, err, envelope.ErrUndecryptable)
			}
		})
	}
}

func TestInteropGoSealsNodeJoseOpens(t *testing.T) {
	interopGoSealsNodeOpens(t, newParties(t), interopCases)
}

// interopGoSealsNodeOpens has our server, signing with p.ours[0], seal to
// Google and node open it, for each case.
func interopGoSealsNodeOpens(t *testing.T, p parties, interopCases []interopCase) {
	n := interopNode(t)
	p.ours[0].Expires, p.google[0].Expires = t0.Add(365*24*time.Hour), t0.Add(365*24*time.Hour)
	stranger := key(t, "attacker")
	var jobs []map[string]any
	for _, c := range interopCases {
		server := p.server(t, allowAll(c.keyAlg, c.enc, c.sigAlg, c.zip))
		for _, pl := range interopPayloads {
			body, err := server.Seal(pl)
			if err != nil {
				t.Fatal(err)
			}
			jobs = append(jobs, map[string]any{
				"op": "open", "jwe": string(body),
				"decKey": privateJWK(t, p.google[0]), "verifyKey": publicJWK(t, p.ours[0]),
				"alg": c.keyAlg, "enc": c.enc, "sigAlg": c.sigAlg,
			})
		}
	}
	// Controls: node must refuse our message under a key that did not sign it
	// and one whose ciphertext was tampered with, or its acceptance above
	// would prove nothing.
	control := func(job map[string]any) map[string]any {
		c := make(map[string]any, len(job))
		for k, v := range job {
			c[k] = v
		}
		return c
	}
	wrongSigner, tampered := control(jobs[0]), control(jobs[0])
	wrongSigner["verifyKey"] = publicJWK(t, stranger)
	tampered["jwe"] = flip(t, jobs[0]["jwe"].(string), 3)
	jobs = append(jobs, wrongSigner, tampered)

	results := n.run(t, jobs)
	for i, res := range results[:len(results)-2] {
		c, pl := interopCases[i/len(interopPayloads)], interopPayloads[i%len(interopPayloads)]
		t.Run(fmt.Sprintf("%v/%d", c, i%len(interopPayloads)), func(t *testing.T) {
			b64, ok := res["payload"].(string)
			if !ok {
				t.Fatalf("node could not open our message: %v", res["error"])
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err != nil || !bytes.Equal(got, pl) {
				t.Fatalf("node read %q (%v), want %q", got, err, pl)
			}
			jweHeader, _ := res["jweHeader"].(map[string]any)
			jwsHeader, _ := res["jwsHeader"].(map[string]any)
			if jweHeader["kid"] != p.google[0].ID || jweHeader["alg"] != c.keyAlg || jweHeader["enc"] != c.enc || (jweHeader["zip"] == "DEF") != c.zip {
				t.Errorf("JWE header as node read it: %v", jweHeader)
			}
			if jwsHeader["kid"] != p.ours[0].ID || jwsHeader["alg"] != c.sigAlg {
				t.Errorf("JWS header as node read it: %v", jwsHeader)
			}
		})
	}
	for i, name := range []string{"signed by another key", "tampered"} {
		res := results[len(results)-2+i]
		if _, opened := res["payload"]; opened || res["error"] == nil {
			t.Errorf("control %q: node accepted it: %v", name, res)
		} else {
			t.Logf("control %q: node refused it: %v", name, res["error"])
		}
	}
}
