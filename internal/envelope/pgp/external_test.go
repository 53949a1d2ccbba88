package pgp

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// opaqueRSA hides an *rsa.PrivateKey behind crypto.Signer and
// crypto.Decrypter, as a token's key is.
type opaqueRSA struct{ k *rsa.PrivateKey }

func (o opaqueRSA) Public() crypto.PublicKey { return &o.k.PublicKey }
func (o opaqueRSA) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.k.Sign(r, d, opts)
}
func (o opaqueRSA) Decrypt(r io.Reader, c []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	return o.k.Decrypt(r, c, opts)
}

// TestExternalKey: a key made of two key pairs held elsewhere (as
// `keys generate --pkcs11` makes it), published, read back from its public
// block and given its key pairs again, as serve loads it; it opens and
// seals with a Go "Google" in every build (hsm_test.go does it with a real
// token and GnuPG).
func TestExternalKey(t *testing.T) {
	var pairs []crypto.Signer
	for range 2 {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, opaqueRSA{k})
	}
	now := time.Now()
	made, err := GenerateExternalKey("otpgate ext", "", 48*time.Hour, now, pairs[0], pairs[1].(crypto.Decrypter))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ArmorPublicKey(made)
	if err != nil {
		t.Fatal(err)
	}
	es, err := ParseKeys(pub)
	if err != nil {
		t.Fatal(err)
	}
	ours := es[0]
	if err := AttachSigners(ours, []crypto.Signer{pairs[1], pairs[0]}); err != nil {
		t.Fatal(err)
	}
	google, err := GenerateKey("google", "", 2048, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	server := newCodec(t, []*openpgp.Entity{ours}, []*openpgp.Entity{public(t, google)}, nil)
	if err := server.Check(); err != nil {
		t.Fatal(err)
	}
	info := server.Keys()
	if len(info) != 4 || !info[0].Active || !info[0].ExpiringSoon || info[0].Usage != "sign" || !info[1].Active || info[1].Usage != "encrypt" ||
		!info[0].Expires.Equal(now.Add(48*time.Hour).Truncate(time.Second)) {
		t.Errorf("Keys() = %+v", info)
	}
	mirror := newCodec(t, []*openpgp.Entity{google}, []*openpgp.Entity{public(t, made)}, nil)
	req, err := mirror.Seal(request)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := server.Open(req); err != nil || !bytes.Equal(got, request) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	resp, err := server.Seal(response)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := mirror.Open(resp); err != nil || !bytes.Equal(got, response) {
		t.Fatalf("Google's Open = %q, %v", got, err)
	}

	// Only the subkey's pair: the primary signs, so that is refused.
	es, _ = ParseKeys(pub)
	if err := AttachSigners(es[0], pairs[1:]); err == nil || !strings.Contains(err.Error(), "primary") {
		t.Errorf("subkey only: %v", err)
	}
}
