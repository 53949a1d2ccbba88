package pgp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
)

// TestOpenAlgorithms: requests GnuPG makes with what the default allow-lists
// refuse, though go-crypto reads them (SPEC §2: a cipher or a bomb is 400,
// a signature's digest 401).
func TestOpenAlgorithms(t *testing.T) {
	f := fixtures(t)
	c := newCodec(t, []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA}, nil)
	req := func(extra ...string) []byte { return f.request(t, request, f.fprOurA, f.fprGA, extra...) }
	bomb := func(size int) []byte {
		body := f.request(t, make([]byte, size), f.fprOurA, f.fprGA, "--compress-algo", "zlib", "-z", "9")
		if len(body) > 64<<10 {
			t.Fatalf("the bomb's body is %d bytes, over the server's limit", len(body))
		}
		return body
	}

	und, bad := envelope.ErrUndecryptable, envelope.ErrBadSignature
	cases := []struct {
		name     string
		body     []byte
		want     error
		mentions string
	}{
		{"CAST5", req("--cipher-algo", "CAST5"), und, "encrypted with CAST5, not an accepted cipher"},
		{"3DES", req("--cipher-algo", "3DES"), und, "encrypted with 3DES"},
		{"IDEA", req("--cipher-algo", "IDEA"), und, "unsupported"},
		{"SHA-1 signature", req("--digest-algo", "SHA1"), bad, "uses SHA-1, not an accepted digest"},
		{"RIPEMD-160 signature", req("--digest-algo", "RIPEMD160"), bad, "sign"}, // go-crypto skips it as unsupported
		{"SHA-224 signature", req("--digest-algo", "SHA224"), bad, "uses SHA-224"},
		{"16 MiB of zeros, compressed", bomb(16 << 20), und, "expands beyond 65536 bytes"},
		{"512 KiB of zeros, compressed", bomb(512 << 10), und, "expands beyond 65536 bytes"},
		{"BZIP2", req("--compress-algo", "bzip2"), und, "compressed with BZIP2"},
		{"hidden recipient", b64(f.gpgMessage(t, request, "--sign", "--encrypt", "-R", f.fprOurA, "-u", f.fprGA), true), und, "hidden recipient"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Open(tc.body)
			if got != nil {
				t.Errorf("Open returned %d bytes with the error", len(got))
			}
			wantErr(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.mentions) {
				t.Errorf("error %q does not mention %q", err, tc.mentions)
			}
			t.Log(err)
		})
	}
}

// TestOpenAllowLists: what the options let in, and what they keep out.
func TestOpenAllowLists(t *testing.T) {
	f := fixtures(t)
	ours, google := []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA}
	req := func(extra ...string) []byte { return f.request(t, request, f.fprOurA, f.fprGA, extra...) }
	hidden := b64(f.gpgMessage(t, request, "--sign", "--encrypt", "-R", f.fprOurA, "-u", f.fprGA), true)

	cases := []struct {
		name string
		opts Options
		body []byte
		want error // nil: opens
	}{
		{"BZIP2 where listed", Options{Compressions: []string{"ZLIB", "BZIP2"}}, req("--compress-algo", "bzip2"), nil},
		{"ZLIB where not listed", Options{Compressions: []string{"ZIP"}}, req("--compress-algo", "zlib"), envelope.ErrUndecryptable},
		{"ZIP where nothing is", Options{Compressions: []string{None}}, req("--compress-algo", "zip"), envelope.ErrUndecryptable},
		{"uncompressed where nothing is", Options{Compressions: []string{None}}, req(), nil},
		{"a hidden recipient where accepted", Options{HiddenRecipients: true}, hidden, nil},
		{"SHA-256 where only SHA-384 is", Options{Digests: []string{"SHA384"}}, req("--digest-algo", "SHA256"), envelope.ErrBadSignature},
		{"SHA-384 where only SHA-384 is", Options{Digests: []string{"SHA384"}}, req("--digest-algo", "SHA384"), nil},
		{"AES-128 where only AES-256 is", Options{Ciphers: []string{"AES256"}}, req("--cipher-algo", "AES"), envelope.ErrUndecryptable},
		{"AES-256 where only AES-256 is", Options{Ciphers: []string{"AES256"}}, req("--cipher-algo", "AES256"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(ours, google, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Open(tc.body)
			if tc.want == nil {
				if err != nil || !bytes.Equal(got, request) {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			wantErr(t, err, tc.want)
			t.Log(err)
		})
	}
}

// TestOpenWeakAndCurveKeys: a GnuPG RSA-1024 key, and an Ed25519 key such
// as GnuPG makes by default, cannot be configured as Google's (the curve
// one can with its algorithms listed); a request signed by either opens only
// where allowed; and should a short key ever be among Google's keys, Open
// itself still refuses its signatures.
func TestOpenWeakAndCurveKeys(t *testing.T) {
	f := fixtures(t)
	g, err := newGPGHome()
	if err != nil {
		t.Fatal(err)
	}
	pubA, err := ArmorPublicKey(f.ourA)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.importKey(pubA); err != nil {
		t.Fatal(err)
	}
	gen := func(uid string, args ...string) (string, *openpgp.Entity) {
		if _, _, err := g.run(nil, append([]string{"--quick-gen-key", uid}, args...)...); err != nil {
			t.Fatal(err)
		}
		es, err := g.export("="+uid, false)
		if err != nil || len(es) != 1 {
			t.Fatalf("export %s: %v", uid, err)
		}
		return "=" + uid, es[0]
	}
	weakUID, weak := gen("Weak <weak@google.test>", "rsa1024", "sign,cert", "1y")
	edUID, ed := gen("Curve <curve@google.test>", "ed25519", "sign,cert", "1y")
	if _, _, err := g.run(nil, "--quick-add-key", fmt.Sprintf("%X", ed.PrimaryKey.Fingerprint), "cv25519", "encr", "1y"); err != nil {
		t.Fatal(err)
	}
	if es, err := g.export(edUID, false); err != nil || len(es) != 1 {
		t.Fatalf("export: %v", err)
	} else {
		ed = es[0]
	}
	signedBy := func(uid string) []byte {
		out, _, err := g.run(request, "--output", "-", "--sign", "--encrypt", "-r", f.fprOurA, "-u", uid, "--digest-algo", "SHA384")
		if err != nil {
			t.Fatal(err)
		}
		return b64(out, true)
	}
	byWeak, byEd := signedBy(weakUID), signedBy(edUID)

	// New refuses both as Google's keys by default.
	for _, k := range []struct {
		name, want string
		e          *openpgp.Entity
	}{{"RSA-1024", "1024 bits, at least 2048 are required", weak}, {"Ed25519", "not an accepted algorithm (RSA)", ed}} {
		if _, err := New([]*openpgp.Entity{f.ourA}, []*openpgp.Entity{k.e}, Options{}); err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("New with Google's %s key: %v, want %q", k.name, err, k.want)
		}
	}

	// Signed by them, to a server that knows only Google's RSA key: 401.
	c := newCodec(t, []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA}, nil)
	for _, body := range [][]byte{byWeak, byEd} {
		_, err := c.Open(body)
		wantErr(t, err, envelope.ErrBadSignature)
	}

	// The curve key, allowed: its requests open.
	curve, err := New([]*openpgp.Entity{f.ourA}, []*openpgp.Entity{ed}, Options{KeyAlgorithms: []string{"RSA", "EdDSA", "ECDH"}})
	if err != nil {
		t.Fatalf("New with EdDSA and ECDH allowed: %v", err)
	}
	if got, err := curve.Open(byEd); err != nil || !bytes.Equal(got, request) {
		t.Fatalf("Open signed by the allowed Ed25519 key: %v", err)
	}

	// A short key among Google's, as if New's check had been bypassed:
	// Open still refuses what it signed.
	c = newCodec(t, []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA}, nil)
	c.google = append(c.google, weak)
	c.googleFPR[string(weak.PrimaryKey.Fingerprint)] = true
	index(c.googleByID, weak)
	_, err = c.Open(byWeak)
	wantErr(t, err, envelope.ErrBadSignature)
	if !strings.Contains(err.Error(), "1024") {
		t.Errorf("error %q does not say why", err)
	}
	t.Log(err)
}
