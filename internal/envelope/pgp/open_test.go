package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
)

var request = []byte(`{"requestHeader":{"protocolVersion":{"major":1,"minor":0,"revision":0},"requestId":"req-1","requestTimestamp":"1502545413026"},"smsMatchingToken":"A1b2C3d4E5f","accountPhoneNumber":"+15555550123"}`)

// TestOpenGnuPG: requests as GnuPG makes them, in every accepted shape.
func TestOpenGnuPG(t *testing.T) {
	f := fixtures(t)
	c := newCodec(t, []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA}, nil)

	sha256 := f.gpgMessage(t, request, "--sign", "--encrypt", "-r", f.fprOurA, "-u", f.fprGA, "--digest-algo", "SHA256")
	cases := []struct {
		name string
		body []byte
	}{
		{"SHA-256 padded", b64(sha256, true)},
		{"SHA-256 unpadded", b64(sha256, false)},
		{"SHA-384 padded", f.request(t, request, f.fprOurA, f.fprGA, "--digest-algo", "SHA384")},
		{"SHA-384 unpadded", []byte(strings.TrimRight(string(f.request(t, request, f.fprOurA, f.fprGA, "--digest-algo", "SHA384")), "="))},
		{"SHA-512", f.request(t, request, f.fprOurA, f.fprGA, "--digest-algo", "SHA512")},
		{"trailing newline", append(b64(sha256, true), '\n')},
		{"trailing CRLF unpadded", append(b64(sha256, false), '\r', '\n')},
		// Our keys ask for no compression, which gpg honours unless told.
		{"ZLIB", f.request(t, request, f.fprOurA, f.fprGA, "--compress-algo", "zlib")},
		{"ZIP", f.request(t, request, f.fprOurA, f.fprGA, "--compress-algo", "zip")},
		{"text-mode signature", f.request(t, request, f.fprOurA, f.fprGA, "--textmode")},
		{"AES-128", f.request(t, request, f.fprOurA, f.fprGA, "--cipher-algo", "AES")},
		// Two signatures, only one by a key we know, in both orders.
		{"signed by unknown and Google", f.request(t, request, f.fprOurA, f.fprUnknown, "-u", f.fprGA)},
		{"signed by Google and unknown", f.request(t, request, f.fprOurA, f.fprGA, "-u", f.fprUnknown)},
		// Two recipients, one of them a stranger, in both orders.
		{"to stranger and us", f.request(t, request, f.fprStranger, f.fprGA, "-r", f.fprOurA)},
		{"to us and stranger", f.request(t, request, f.fprOurA, f.fprGA, "-r", f.fprStranger)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Open(tc.body)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, request) {
				t.Fatalf("Open = %q, want %q", got, request)
			}
		})
	}
	if b := b64(sha256, true); !bytes.HasSuffix(b, []byte("=")) && len(sha256)%3 != 0 {
		t.Fatal("padded case carries no padding") // guard the table
	}
}

// TestOpenRejects: every failure path, and which of the two errors it gets
// (SPEC §2: 400 INVALID_PAYLOAD_ENCRYPTION vs 401 INVALID_PAYLOAD_SIGNATURE).
func TestOpenRejects(t *testing.T) {
	f := fixtures(t)
	c := newCodec(t, []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA, f.gRevoked}, nil)
	good := f.gpgMessage(t, request, "--sign", "--encrypt", "-r", f.fprOurA, "-u", f.fprGA)
	if _, err := c.Open(b64(good, true)); err != nil {
		t.Fatalf("control: %v", err)
	}
	flip := func(i int) []byte {
		m := bytes.Clone(good)
		m[i] ^= 0x40
		return b64(m, true)
	}
	padded := b64(good, true)

	und, bad := envelope.ErrUndecryptable, envelope.ErrBadSignature
	cases := []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, und},
		{"whitespace", []byte(" \n"), und},
		{"plain JSON", request, und},
		{"not base64url", []byte("!!!!not-base64!!!!"), und},
		{"standard alphabet char", append(bytes.Clone(padded[:40]), '+'), und},
		{"bad padding", append(b64(good, false), '=', '=', '='), und},
		{"garbage", b64(bytes.Repeat([]byte{0x42}, 300), true), und},
		{"truncated half", padded[:len(padded)/2], und},
		{"truncated tail", padded[:len(padded)-12], und},
		{"trailing data", b64(append(bytes.Clone(good), good...), true), und},
		{"tampered middle", flip(len(good) / 2), und},
		{"tampered MDC", flip(len(good) - 5), und},
		{"tampered session key", flip(20), und},
		{"wrong recipient", f.request(t, request, f.fprStranger, f.fprGA), und},
		{"signed only", b64(f.gpgMessage(t, request, "--sign", "-u", f.fprGA), true)[:], und},
		{"passphrase only", b64(f.gpgMessage(t, request, "--symmetric", "--sign", "-u", f.fprGA, "--passphrase", "pw"), true), und},
		{"passphrase and us", b64(f.gpgMessage(t, request, "--symmetric", "--sign", "--encrypt", "-r", f.fprOurA, "-u", f.fprGA, "--passphrase", "pw"), true), und},
		{"no integrity protection", b64(f.gpgMessage(t, request, "--rfc2440", "--sign", "--encrypt", "-r", f.fprOurA, "-u", f.fprGA, "--cipher-algo", "AES256"), true), und},
		{"unsigned", b64(f.gpgMessage(t, request, "--encrypt", "-r", f.fprOurA), true), bad},
		{"unknown signer", f.request(t, request, f.fprOurA, f.fprUnknown), bad},
		{"two unknown signers", f.request(t, request, f.fprOurA, f.fprUnknown, "-u", f.fprStranger), bad},
		{"signed by ourselves", f.request(t, request, f.fprOurA, f.fprOurA), bad},
		{"SHA-1 signature", f.request(t, request, f.fprOurA, f.fprGA, "--digest-algo", "SHA1"), bad},
		{"tampered signature", tamperedSignature(t, f), bad},
		{"revoked Google key", sealAs(t, f.gRevokedPriv, f.ourA, request), bad},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Open(tc.body)
			if got != nil {
				t.Errorf("Open returned %d bytes with the error", len(got))
			}
			wantErr(t, err, tc.want)
			t.Log(err)
			other := und
			if tc.want == und {
				other = bad
			}
			if errors.Is(err, other) {
				t.Fatalf("error %v is both", err)
			}
		})
	}
}

// TestOpenSizeLimit: compression must not inflate past MaxPlaintext.
func TestOpenSizeLimit(t *testing.T) {
	f := fixtures(t)
	c, err := New([]*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA}, Options{MaxPlaintext: 4096})
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0"), 200_000)
	for _, z := range []string{"zlib", "none"} {
		// Our keys prefer no compression; --compress-algo overrides that.
		body := f.request(t, big, f.fprOurA, f.fprGA, "--compress-algo", z)
		if z == "zlib" && len(body) > 4096 {
			t.Fatalf("compressed body is %d bytes; the test wants it below the limit", len(body))
		}
		_, err := c.Open(body)
		wantErr(t, err, envelope.ErrUndecryptable)
	}
	small := f.request(t, big[:4096], f.fprOurA, f.fprGA)
	if _, err := c.Open(small); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
}

// TestOpenExpiry: keys past their expiry neither decrypt nor verify, even
// for messages made while they were valid.
func TestOpenExpiry(t *testing.T) {
	f := fixtures(t)
	toShort := f.request(t, request, f.fprOurShort, f.fprGA)
	toA := f.request(t, request, f.fprOurA, f.fprGA)
	ours := []*openpgp.Entity{f.ourShort, f.ourA}
	google := []*openpgp.Entity{f.gA}

	// Controls: both open while the keys are valid.
	for _, d := range []time.Duration{0, 300 * 24 * time.Hour} {
		c := newCodec(t, ours, google, at(d))
		if d == 0 {
			if _, err := c.Open(toShort); err != nil {
				t.Fatalf("to the short key, now: %v", err)
			}
		}
		if _, err := c.Open(toA); err != nil {
			t.Fatalf("to A, in %v: %v", d, err)
		}
	}
	// Two days on, our short key has expired: no decryption with it.
	c := newCodec(t, ours, google, at(48*time.Hour))
	_, err := c.Open(toShort)
	wantErr(t, err, envelope.ErrUndecryptable)
	t.Log(err)
	// Past a year, Google's key has expired: its signatures count no more,
	// though it was valid when it signed.
	c = newCodec(t, ours, google, at(400*24*time.Hour))
	_, err = c.Open(toA)
	wantErr(t, err, envelope.ErrBadSignature)
	t.Log(err)
}

// tamperedSignature is a message whose encryption is intact but whose
// signature is not: Google's key signs in Go, one byte of the signature is
// flipped, and the result is encrypted to our key A.
func tamperedSignature(t *testing.T, f *fixture) []byte {
	t.Helper()
	cfg := &packet.Config{DefaultHash: crypto.SHA384}
	var signed bytes.Buffer
	w, err := openpgp.Sign(&signed, []*openpgp.Entity{f.gAPriv}, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(request)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	inner := signed.Bytes()
	inner[len(inner)-3] ^= 0x01 // inside the RSA signature value

	keys := encryptionKeys(f.ourA, time.Now(), cfg)
	if len(keys) != 1 {
		t.Fatalf("%d encryption keys", len(keys))
	}
	key := make([]byte, 32)
	var msg bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&msg, keys[0].PublicKey, packet.CipherAES256, false, key, cfg); err != nil {
		t.Fatal(err)
	}
	enc, err := packet.SerializeSymmetricallyEncrypted(&msg, packet.CipherAES256, false, packet.CipherSuite{}, key, cfg)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(inner)
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return b64(msg.Bytes(), true)
}

// sealAs plays Google in Go: signer's private key signs, to is encrypted to.
func sealAs(t testing.TB, signer, to *openpgp.Entity, plaintext []byte) []byte {
	t.Helper()
	c := newCodec(t, []*openpgp.Entity{signer}, []*openpgp.Entity{public(t, to)}, nil)
	body, err := c.Seal(plaintext)
	if err != nil {
		t.Fatal(err)
	}
	return body
}
