//go:build pkcs11

package hsm_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/hsm"
	"github.com/otpgate/otpgate/internal/hsm/softhsmtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	softhsmtest.Cleanup()
	os.Exit(code)
}

// TestToken: a key pair generated in a real token (SoftHSM2) signs and
// decrypts there, is found again by its URI, and cannot be read out.
func TestToken(t *testing.T) {
	st := softhsmtest.New(t, "hsm-test")
	tokens := hsm.NewTokens(st.Getenv)
	defer tokens.Close()
	u, err := hsm.ParseURI("pkcs11:token=hsm-test;object=k1")
	if err != nil {
		t.Fatal(err)
	}
	tk, err := tokens.Open(u)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := tokens.Open(u); err != nil || again != tk {
		t.Fatalf("second Open: %v (same token: %v)", err, again == tk)
	}
	if n := tokens.Len(); n != 1 {
		t.Fatalf("Len %d after opening one token twice, want 1", n)
	}
	gen, err := tk.GenerateRSA("k1", []byte("k1-id"), 2048, hsm.Usage{Sign: true, Decrypt: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := gen.(*rsa.PrivateKey); ok {
		t.Fatal("GenerateRSA returned key material")
	}
	found, err := tk.KeyPairs(u)
	if err != nil || len(found) != 1 {
		t.Fatalf("KeyPairs: %v, %d", err, len(found))
	}
	s := found[0]
	pub := s.Public().(*rsa.PublicKey)
	if !pub.Equal(gen.Public()) || pub.N.BitLen() != 2048 {
		t.Fatal("found a different key")
	}

	digest := sha256.Sum256([]byte("message"))
	sig, err := s.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("token's signature does not verify: %v", err)
	}
	// RSA-OAEP with SHA-1 (JWE "RSA-OAEP"): SoftHSM 2.6 refuses OAEP
	// with other hashes (CKR_ARGUMENTS_BAD), hardware HSMs do not.
	ct, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, pub, []byte("session key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pt, err := s.(crypto.Decrypter).Decrypt(rand.Reader, ct, &rsa.OAEPOptions{Hash: crypto.SHA1})
	if err != nil || string(pt) != "session key" {
		t.Fatalf("OAEP decrypt: %q, %v", pt, err)
	}
	//lint:ignore SA1019 OpenPGP's (and JWE RSA1_5's) session keys are PKCS #1 v1.5: the token must decrypt exactly that.
	ct, err = rsa.EncryptPKCS1v15(rand.Reader, pub, []byte("pgp session key"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := s.(crypto.Decrypter).Decrypt(rand.Reader, ct, nil); err != nil || string(pt) != "pgp session key" {
		t.Fatalf("PKCS #1 v1.5 decrypt: %q, %v", pt, err)
	}

	prot, err := tk.Protection(s)
	if err != nil {
		t.Fatal(err)
	}
	want := hsm.Protection{Sensitive: true, AlwaysSensitive: true, NeverExtractable: true, Local: true}
	if prot != want {
		t.Fatalf("protection %+v, want %+v", prot, want)
	}
	if v, err := tk.ReadPrivateExponent(s); !errors.Is(err, hsm.ErrSensitive) || len(v) != 0 {
		t.Fatalf("reading the private exponent: %d bytes, %v; want CKR_ATTRIBUTE_SENSITIVE", len(v), err)
	}

	// Delete takes both objects of a pair out of the token: the label is
	// free again, and the pair's handle no longer signs.
	if err := tk.Delete(s); err != nil {
		t.Fatal(err)
	}
	if left, err := tk.KeyPairs(u); err == nil {
		t.Fatalf("after Delete the token still holds %d key pair(s) labelled k1", len(left))
	}
	if _, err := s.Sign(rand.Reader, digest[:], crypto.SHA256); err == nil {
		t.Error("a deleted key pair still signs")
	}
	if err := tk.Delete(foreignSigner{pub}); err == nil {
		t.Error("Delete of a key that is not the token's: no error")
	}

	missing, _ := hsm.ParseURI("pkcs11:token=hsm-test;object=nope")
	if _, err := tk.KeyPairs(missing); err == nil || !strings.Contains(err.Error(), "keys generate --pkcs11") {
		t.Errorf("missing object: %v", err)
	}

	if err := tokens.Close(); err != nil || tokens.Len() != 0 {
		t.Fatalf("Close: %v, %d tokens left open", err, tokens.Len())
	}
	if _, err := tk.KeyPairs(missing); err == nil {
		t.Error("a closed token still answers")
	}
}

func TestTokenOpenErrors(t *testing.T) {
	st := softhsmtest.New(t, "hsm-errors")
	env := map[string]string{hsm.EnvModule: st.Module, hsm.EnvPIN: "999999"}
	tokens := hsm.NewTokens(func(k string) string { return env[k] })
	defer tokens.Close()
	u, _ := hsm.ParseURI("pkcs11:token=hsm-errors;object=k")
	if _, err := tokens.Open(u); err == nil || strings.Contains(err.Error(), "999999") {
		t.Errorf("wrong PIN: %v", err)
	}
	nowhere, _ := hsm.ParseURI("pkcs11:token=no-such-token;object=k")
	env[hsm.EnvPIN] = st.PIN
	if _, err := tokens.Open(nowhere); err == nil || !strings.Contains(err.Error(), "no-such-token") {
		t.Errorf("missing token: %v", err)
	}
}

// foreignSigner is a crypto.Signer that is no token's.
type foreignSigner struct{ pub *rsa.PublicKey }

func (p foreignSigner) Public() crypto.PublicKey { return p.pub }
func (foreignSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("not a key")
}
