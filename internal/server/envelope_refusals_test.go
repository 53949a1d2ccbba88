package server_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
)

// TestEnvelopeRefusals sends sendOtp requests protected with what the
// envelopes refuse (issue 10: weak algorithms, decompression bombs, floods
// of session keys) and checks Google's answer (SPEC §2: 400
// INVALID_PAYLOAD_ENCRYPTION, or 401 with an empty body for a signature)
// and that nothing was stored and no SMS sent.
func TestEnvelopeRefusals(t *testing.T) {
	now, year := time.Now(), 365*24*time.Hour
	ours, err := pgp.GenerateKey("otpgate", "", 2048, year, now)
	if err != nil {
		t.Fatal(err)
	}
	google, err := pgp.GenerateKey("google", "", 2048, year, now)
	if err != nil {
		t.Fatal(err)
	}
	weak, err := openpgp.NewEntity("weak", "", "weak@google.test", &packet.Config{RSABits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	oursPublic, err := pgpPublic(ours)
	if err != nil {
		t.Fatal(err)
	}
	googlePublic, err := pgpPublic(google)
	if err != nil {
		t.Fatal(err)
	}
	server, err := pgp.New(pgpEntities(ours), googlePublic, pgp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	googleSide, err := pgp.New(pgpEntities(google), oursPublic, pgp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	to := oursPublic[0]
	gpg := newGnuPG(t, google, to)

	// JOSE: Google's side compresses; the server's bound is the default.
	jOurs, err := jose.GenerateKey("ours-1", 2048, jose.UseBoth, year, now)
	if err != nil {
		t.Fatal(err)
	}
	jGoogle, err := jose.GenerateKey("google-1", 2048, jose.UseBoth, year, now)
	if err != nil {
		t.Fatal(err)
	}
	jServer, err := jose.New(&jose.KeySet{Ours: []*jose.Key{jOurs}, Google: []*jose.Key{jGoogle.Public()}}, jose.Options{})
	if err != nil {
		t.Fatal(err)
	}
	jGoogleSide, err := jose.New(&jose.KeySet{Ours: []*jose.Key{jGoogle}, Google: []*jose.Key{jOurs.Public()}}, jose.Options{Compress: true})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("pgp", func(t *testing.T) {
		h := newHarness(t, withEnvelope(server, googleSide))
		expect(t, h.sendOtp("control", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
		sendOtp := func(padding int) []byte {
			body := map[string]any{"requestHeader": h.header("refused"), "smsMatchingToken": token, "associationId": "as-1"}
			if padding > 0 {
				body["padding"] = strings.Repeat("x", padding)
			}
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
		signed := func(signer *openpgp.Entity, plaintext []byte) []byte { return signedPGP(t, signer, plaintext) }
		ok := func(inner []byte) []byte { return encryptedPGP(t, to, inner) }

		var hidden []byte
		for range 120 {
			hidden = append(hidden, fakeSessionKey(0)...)
		}
		for _, tc := range []struct {
			name   string
			body   []byte
			status int
		}{
			{"CAST5 (GnuPG)", gpg.seal(t, sendOtp(0), "--cipher-algo", "CAST5"), 400},
			{"3DES (GnuPG)", gpg.seal(t, sendOtp(0), "--cipher-algo", "3DES"), 400},
			{"SHA-1 signature (GnuPG)", gpg.seal(t, sendOtp(0), "--digest-algo", "SHA1"), 401},
			{"500 kB compressed to 1 kB", ok(compressedPGP(t, packet.CompressionZLIB, signed(google, sendOtp(500_000)))), 400},
			{"compressed twice", ok(compressedPGP(t, packet.CompressionZLIB, compressedPGP(t, packet.CompressionZIP, signed(google, sendOtp(0))))), 400},
			{"BZIP2 (GnuPG)", gpg.seal(t, sendOtp(0), "--compress-algo", "bzip2"), 400},
			{"120 hidden recipients", append(hidden, ok(signed(google, sendOtp(0)))...), 400},
			{"SHA-1 signature", ok(sha1Signed(t, google, sendOtp(0))), 401},
			{"RSA-1024 signer", ok(signed(weak, sendOtp(0))), 401},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before, sms := h.rowCounts(), len(h.sms.Messages())
				body := []byte(base64.URLEncoding.EncodeToString(tc.body))
				if len(body) > 64<<10 {
					t.Fatalf("a %d-byte body, over the body limit", len(body))
				}
				r := h.postSealed("/v1/sendOtp", pgp.ContentType, body)
				switch tc.status {
				case 400:
					expect(t, r, 400, "errorResponseCode", "INVALID_PAYLOAD_ENCRYPTION")
				case 401:
					if r.status != http.StatusUnauthorized || r.raw != "" {
						t.Errorf("got %d %q, want 401 and no body", r.status, r.raw)
					}
				}
				if after := h.rowCounts(); !equalCounts(before, after) || len(h.sms.Messages()) != sms {
					t.Errorf("rows %v → %v, SMS %d → %d: a refused request left a trace", before, after, sms, len(h.sms.Messages()))
				}
			})
		}
	})

	t.Run("jose", func(t *testing.T) {
		h := newHarness(t, withEnvelope(jServer, jGoogleSide))
		expect(t, h.sendOtp("control", map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
		before, sms := h.rowCounts(), len(h.sms.Messages())
		// 150 kB of JSON that deflates to a few hundred bytes: within
		// go-jose's own bound (250 kB), past the server's (64 KiB).
		body := map[string]any{"requestHeader": h.header("bomb"), "smsMatchingToken": token, "associationId": "as-1",
			"padding": strings.Repeat("x", 150_000)}
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := jGoogleSide.Seal(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) > 64<<10 {
			t.Fatalf("a %d-byte body, over the body limit", len(sealed))
		}
		expect(t, h.postSealed("/v1/sendOtp", jose.ContentType, sealed), 400, "errorResponseCode", "INVALID_PAYLOAD_ENCRYPTION")
		if after := h.rowCounts(); !equalCounts(before, after) || len(h.sms.Messages()) != sms {
			t.Errorf("rows %v → %v, SMS %d → %d: a refused request left a trace", before, after, sms, len(h.sms.Messages()))
		}
	})
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// signedPGP is the one-pass signed message of plaintext by signer, which
// may be a short RSA key.
func signedPGP(t *testing.T, signer *openpgp.Entity, plaintext []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	cfg := &packet.Config{DefaultHash: crypto.SHA384, MinRSABits: 1024}
	w, err := openpgp.SignWithParams(&b, []*openpgp.Entity{signer}, &openpgp.SignParams{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plaintext); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sha1Signed is a one-pass signed message of plaintext by signer's primary
// key with SHA-1, which go-crypto would no longer choose itself.
func sha1Signed(t *testing.T, signer *openpgp.Entity, plaintext []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	ops := &packet.OnePassSignature{Version: 3, SigType: packet.SigTypeBinary, Hash: crypto.SHA1,
		PubKeyAlgo: signer.PrimaryKey.PubKeyAlgo, KeyId: signer.PrimaryKey.KeyId, IsLast: true}
	if err := ops.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	lit, err := packet.SerializeLiteral(nopCloser{&b}, true, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	lit.Write(plaintext)
	if err := lit.Close(); err != nil {
		t.Fatal(err)
	}
	id := signer.PrimaryKey.KeyId
	sig := &packet.Signature{SigType: packet.SigTypeBinary, PubKeyAlgo: signer.PrimaryKey.PubKeyAlgo, Hash: crypto.SHA1,
		CreationTime: time.Now(), IssuerKeyId: &id}
	h := sha1.New()
	h.Write(plaintext)
	if err := sig.Sign(h, signer.PrivateKey, &packet.Config{NonDeterministicSignaturesViaNotation: packet.BoolPointer(false)}); err != nil {
		t.Fatal(err)
	}
	if err := sig.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encryptedPGP encrypts inner (packets) with AES-256 (SEIPD v1) to the
// encryption key of to. (go-crypto writes no weaker cipher: GnuPG makes
// those.)
func encryptedPGP(t *testing.T, to *openpgp.Entity, inner []byte) []byte {
	const cipher = packet.CipherAES256
	t.Helper()
	var pub *packet.PublicKey
	for _, sk := range to.Subkeys {
		if sk.PublicKey.PubKeyAlgo.CanEncrypt() {
			pub = sk.PublicKey
		}
	}
	key := make([]byte, cipher.KeySize())
	_, _ = rand.Read(key)
	var b bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&b, pub, cipher, false, key, nil); err != nil {
		t.Fatal(err)
	}
	w, err := packet.SerializeSymmetricallyEncrypted(&b, cipher, false, packet.CipherSuite{}, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(inner)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func compressedPGP(t *testing.T, algo packet.CompressionAlgo, inner []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := packet.SerializeCompressed(nopCloser{&b}, algo, &packet.CompressionConfig{Level: 9})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(inner)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fakeSessionKey is a session-key packet for keyID (0: hidden) holding a
// number below any RSA-2048 modulus: one full RSA decryption to try it.
func fakeSessionKey(keyID uint64) []byte {
	body := []byte{3, 0, 0, 0, 0, 0, 0, 0, 0, byte(packet.PubKeyAlgoRSA), 0x07, 0xFF}
	for i := range 8 {
		body[1+i] = byte(keyID >> (56 - 8*i))
	}
	mpi := make([]byte, 256)
	_, _ = rand.Read(mpi)
	mpi[0] = mpi[0]&0x3F | 0x40
	body = append(body, mpi...)
	l := len(body) - 192
	return append([]byte{0xC1, byte(l>>8) + 192, byte(l)}, body...)
}

type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// gnuPG plays Google with GnuPG, which still writes CAST5, 3DES and SHA-1
// when told to.
type gnuPG struct {
	home, from, to string // GNUPGHOME, Google's and our fingerprints
}

func newGnuPG(t *testing.T, google, ours *openpgp.Entity) *gnuPG {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("gpg not installed: .ci/run installs gnupg")
		}
		t.Skip("gpg not installed")
	}
	// Under /tmp with a short name: gpg-agent's socket path must fit in
	// 108 bytes, which t.TempDir paths can exceed.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		kill := exec.Command("gpgconf", "--kill", "gpg-agent")
		kill.Env = append(os.Environ(), "GNUPGHOME="+home)
		_ = kill.Run()
		_ = os.RemoveAll(home)
	})
	g := &gnuPG{home: home, from: fmt.Sprintf("%X", google.PrimaryKey.Fingerprint), to: fmt.Sprintf("%X", ours.PrimaryKey.Fingerprint)}
	secret := filepath.Join(home, "google.asc")
	if err := pgp.WritePrivateKey(secret, google); err != nil {
		t.Fatal(err)
	}
	public, err := pgp.ArmorPublicKey(ours)
	if err != nil {
		t.Fatal(err)
	}
	g.run(t, nil, "--import", secret)
	g.run(t, public, "--import")
	return g
}

func (g *gnuPG) run(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	base := []string{"--homedir", g.home, "--batch", "--no-tty", "--yes", "--pinentry-mode", "loopback", "--passphrase", "",
		"--trust-model", "always", "--no-auto-key-locate"}
	cmd := exec.Command("gpg", append(base, args...)...)
	cmd.Env = append(os.Environ(), "GNUPGHOME="+g.home, "LC_ALL=C")
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}

// seal is what GnuPG sends as Google: signed by Google's key, encrypted to
// ours, binary (the caller encodes it).
func (g *gnuPG) seal(t *testing.T, plaintext []byte, extra ...string) []byte {
	t.Helper()
	return g.run(t, plaintext, append([]string{"--output", "-", "--sign", "--encrypt", "-r", g.to, "-u", g.from}, extra...)...)
}
