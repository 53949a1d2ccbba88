package pgp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
)

var response = []byte(`{"responseHeader":{"responseTimestamp":"1502545413098"},"paymentIntegratorSendOtpId":"ps-1","result":"SUCCESS"}`)

// gpgOpen has gpg decrypt and verify a sealed body and returns the plaintext
// and the status lines.
func gpgOpen(t *testing.T, g *gpgHome, body []byte) ([]byte, []string, error) {
	t.Helper()
	bin, err := base64.URLEncoding.DecodeString(string(body))
	if err != nil {
		t.Fatalf("sealed body is not padded base64url: %v", err)
	}
	out, stderr, err := g.run(bin, "--status-fd", "2", "--decrypt")
	return out, statusLines(stderr), err
}

// status returns the fields after keyword of every status line with it.
func status(lines []string, keyword string) [][]string {
	var out [][]string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && f[0] == keyword {
			out = append(out, f[1:])
		}
	}
	return out
}

func fpr(e *openpgp.Entity) string { return fmt.Sprintf("%X", e.PrimaryKey.Fingerprint) }

// wantGPGVerified checks that gpg decrypted body with AES-256 under MDC and
// found a good SHA-384 signature by each of signers and by nobody else.
func wantGPGVerified(t *testing.T, g *gpgHome, body []byte, signers ...*openpgp.Entity) {
	t.Helper()
	out, st, err := gpgOpen(t, g, body)
	if err != nil {
		t.Fatalf("gpg --decrypt: %v", err)
	}
	if !bytes.Equal(out, response) {
		t.Fatalf("gpg decrypted %q, want %q", out, response)
	}
	// DECRYPTION_INFO <mdc method> <cipher>: 2 = SHA-1 MDC, 9 = AES-256.
	if di := status(st, "DECRYPTION_INFO"); len(di) != 1 || di[0][0] != "2" || di[0][1] != "9" {
		t.Errorf("DECRYPTION_INFO %v, want MDC (2) and AES-256 (9)", di)
	}
	for _, kw := range []string{"DECRYPTION_OKAY", "GOODMDC"} {
		if len(status(st, kw)) != 1 {
			t.Errorf("no %s in %q", kw, st)
		}
	}
	for _, kw := range []string{"BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "BADMDC", "DECRYPTION_FAILED"} {
		if s := status(st, kw); len(s) > 0 {
			t.Errorf("%s %v", kw, s)
		}
	}
	// VALIDSIG <fpr> <date> <ts> <expire> <version> <reserved> <pk algo>
	// <hash algo> <class> <primary fpr>; hash 9 is SHA-384 (RFC 4880 §9.4).
	var got []string
	for _, v := range status(st, "VALIDSIG") {
		if v[7] != "9" {
			t.Errorf("signature by %s uses hash %s, want 9 (SHA-384)", v[0], v[7])
		}
		got = append(got, v[len(v)-1])
	}
	var want []string
	for _, e := range signers {
		want = append(want, fpr(e))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) || len(status(st, "GOODSIG")) != len(want) {
		t.Errorf("gpg verified signatures by %v (GOODSIG %v), want %v", got, status(st, "GOODSIG"), want)
	}
}

// holder is a GNUPGHOME that holds one Google secret key and our public keys:
// what one of Google's servers in the middle of a rotation would have.
func holder(t *testing.T, f *fixture, googleFPR string) *gpgHome {
	t.Helper()
	sec, _, err := f.gpg.run(nil, "--armor", "--export-secret-keys", googleFPR)
	if err != nil {
		t.Fatal(err)
	}
	g, err := newGPGHome()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.importKey(sec); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*openpgp.Entity{f.ourA, f.ourB} {
		pub, err := ArmorPublicKey(e)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.importKey(pub); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func TestSealGnuPG(t *testing.T) {
	f := fixtures(t)
	c := newCodec(t, []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA}, nil)
	body, err := c.Seal(response)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+={0,2}$`).Match(body) || len(body)%4 != 0 {
		t.Fatalf("sealed body is not padded base64url: %.40q…", body)
	}
	wantGPGVerified(t, f.gpg, body, f.ourA)

	// No compression, and nothing but what SPEC §5 asks for.
	bin, _ := base64.URLEncoding.DecodeString(string(body))
	out, _, err := f.gpg.run(bin, "--list-packets")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("compressed packet")) {
		t.Errorf("sealed message is compressed:\n%s", out)
	}
	// And our own Open reads what a Go "Google" seals the same way.
	mirror := newCodec(t, []*openpgp.Entity{f.gAPriv}, []*openpgp.Entity{public(t, f.ourA)}, nil)
	got, err := mirror.Open(body)
	if err != nil || !bytes.Equal(got, response) {
		t.Fatalf("mirror Open = %q, %v", got, err)
	}
}

// TestRotation: old and new keys side by side on both ends, then the old
// ones retired.
func TestRotation(t *testing.T) {
	f := fixtures(t)
	both := newCodec(t, []*openpgp.Entity{f.ourA, f.ourB}, []*openpgp.Entity{f.gA, f.gB}, nil)
	for _, to := range []string{f.fprOurA, f.fprOurB} {
		for _, by := range []string{f.fprGA, f.fprGB} {
			if _, err := both.Open(f.request(t, request, to, by)); err != nil {
				t.Errorf("to %s by %s: %v", to, by, err)
			}
		}
	}

	// A response is readable by a holder of either Google key, and carries
	// a signature by each of our keys.
	body, err := both.Seal(response)
	if err != nil {
		t.Fatal(err)
	}
	holdA, holdB := holder(t, f, f.fprGA), holder(t, f, f.fprGB)
	wantGPGVerified(t, holdA, body, f.ourA, f.ourB)
	wantGPGVerified(t, holdB, body, f.ourA, f.ourB)

	// The old keys (our A, Google's A) are removed.
	after := newCodec(t, []*openpgp.Entity{f.ourB}, []*openpgp.Entity{f.gB}, nil)
	if _, err := after.Open(f.request(t, request, f.fprOurB, f.fprGB)); err != nil {
		t.Fatalf("new keys: %v", err)
	}
	_, err = after.Open(f.request(t, request, f.fprOurA, f.fprGB))
	wantErr(t, err, envelope.ErrUndecryptable)
	_, err = after.Open(f.request(t, request, f.fprOurB, f.fprGA))
	wantErr(t, err, envelope.ErrBadSignature)

	body, err = after.Seal(response)
	if err != nil {
		t.Fatal(err)
	}
	wantGPGVerified(t, holdB, body, f.ourB)
	if _, _, err := gpgOpen(t, holdA, body); err == nil {
		t.Error("the holder of the retired Google key still decrypts")
	}
}

// TestSealExpiry: expired keys neither sign nor are encrypted to, and with
// none left Seal fails loudly.
func TestSealExpiry(t *testing.T) {
	f := fixtures(t)
	inTwoDays := at(48 * time.Hour)
	inOverAYear := at(400 * 24 * time.Hour)

	// Our short key has expired: only A signs.
	c := newCodec(t, []*openpgp.Entity{f.ourShort, f.ourA}, []*openpgp.Entity{f.gA}, inTwoDays)
	body, err := c.Seal(response)
	if err != nil {
		t.Fatal(err)
	}
	if got := inspect(t, body, f.gAPriv, inTwoDays()); !slices.Equal(got.signers, []uint64{f.ourA.PrimaryKey.KeyId}) {
		t.Errorf("signed by %X, want only A %X", got.signers, f.ourA.PrimaryKey.KeyId)
	}
	// Today both sign.
	c = newCodec(t, []*openpgp.Entity{f.ourShort, f.ourA}, []*openpgp.Entity{f.gA}, nil)
	body, err = c.Seal(response)
	if err != nil {
		t.Fatal(err)
	}
	if got := inspect(t, body, f.gAPriv, time.Now()); len(got.signers) != 2 {
		t.Errorf("signed by %X, want two keys", got.signers)
	}

	// Google's A has expired, B (here one of our Go-made keys, which lives
	// three years) has not: only B is encrypted to.
	gB := public(t, f.ourB)
	c = newCodec(t, []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA, gB}, inOverAYear)
	body, err = c.Seal(response)
	if err != nil {
		t.Fatal(err)
	}
	want := encryptionKeys(gB, inOverAYear(), c.cfg)[0].PublicKey.KeyId
	if got := inspect(t, body, nil, time.Time{}); !slices.Equal(got.recipients, []uint64{want}) {
		t.Errorf("encrypted to %X, want only %X", got.recipients, want)
	}

	// Nothing left to encrypt to, or to sign with.
	for name, c := range map[string]*Codec{
		"google expired": newCodec(t, []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA}, inOverAYear),
		"ours expired":   newCodec(t, []*openpgp.Entity{f.ourShort}, []*openpgp.Entity{f.gA}, inTwoDays),
		"google revoked": newCodec(t, []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gRevoked}, nil),
	} {
		body, err := c.Seal(response)
		if !errors.Is(err, ErrNoKey) || body != nil {
			t.Errorf("%s: Seal = %d bytes, %v; want ErrNoKey", name, len(body), err)
		}
		if err := c.Check(); !errors.Is(err, ErrNoKey) {
			t.Errorf("%s: Check = %v, want ErrNoKey", name, err)
		}
	}
	if err := newCodec(t, []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA}, nil).Check(); err != nil {
		t.Errorf("Check with valid keys: %v", err)
	}
}

type inspected struct{ recipients, signers []uint64 }

// inspect lists the recipients of a sealed body and, if key can decrypt it,
// the issuers of its signatures.
func inspect(t *testing.T, body []byte, key *openpgp.Entity, now time.Time) inspected {
	t.Helper()
	bin, err := base64.URLEncoding.DecodeString(string(body))
	if err != nil {
		t.Fatal(err)
	}
	var r inspected
	pr := packet.NewReader(bytes.NewReader(bin))
	for {
		p, err := pr.Next()
		if err != nil {
			t.Fatal(err)
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			break
		}
		r.recipients = append(r.recipients, ek.KeyId)
	}
	if key == nil {
		return r
	}
	md, err := openpgp.ReadMessage(bytes.NewReader(bin), openpgp.EntityList{key}, nil, &packet.Config{Time: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(md.UnverifiedBody); err != nil {
		t.Fatal(err)
	}
	for _, c := range md.SignatureCandidates {
		r.signers = append(r.signers, c.IssuerKeyId)
	}
	return r
}

// TestConcurrent runs Open and Seal from many goroutines; with -race it
// shows that the codec's shared key structures are only read.
func TestConcurrent(t *testing.T) {
	f := fixtures(t)
	c := newCodec(t, []*openpgp.Entity{f.ourA, f.ourB}, []*openpgp.Entity{f.gA, f.gB}, nil)
	google := newCodec(t, []*openpgp.Entity{f.gAPriv, f.gBPriv}, []*openpgp.Entity{public(t, f.ourA), public(t, f.ourB)}, nil)
	req, err := google.Seal(request)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 3 {
				got, err := c.Open(req)
				if err != nil || !bytes.Equal(got, request) {
					t.Errorf("Open = %q, %v", got, err)
					return
				}
				resp, err := c.Seal(response)
				if err != nil {
					t.Errorf("Seal: %v", err)
					return
				}
				if got, err := google.Open(resp); err != nil || !bytes.Equal(got, response) {
					t.Errorf("google Open = %q, %v", got, err)
					return
				}
				_ = c.Keys()
			}
		})
	}
	wg.Wait()
}
