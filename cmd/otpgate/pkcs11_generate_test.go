//go:build pkcs11

package main

import (
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/hsm"
	"github.com/otpgate/otpgate/internal/hsm/softhsmtest"
)

// TestPKCS11GenerateRollsBack: when the second key pair of a PGP key cannot
// be made, `keys generate --pkcs11` deletes the first from the token and
// leaves no --out: the label is free, and a retry under it succeeds.
func TestPKCS11GenerateRollsBack(t *testing.T) {
	st := softhsmtest.New(t, "gen-rollback")
	for _, kv := range st.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	calls := 0
	generateRSA = func(tk *hsm.Token, label string, id []byte, bits int, use hsm.Usage) (crypto.Signer, error) {
		if calls++; calls == 2 {
			return nil, errors.New("forced failure of the second key pair")
		}
		return tk.GenerateRSA(label, id, bits, use)
	}
	t.Cleanup(func() { generateRSA = (*hsm.Token).GenerateRSA })

	out := filepath.Join(t.TempDir(), "half.pub.asc")
	cmd := &keysGenerateCmd{Scheme: "pgp", Out: out, Bits: 2048, Lifetime: 24 * time.Hour, Name: "otpgate",
		PKCS11: "pkcs11:token=gen-rollback;object=half"}
	if err := cmd.generateInToken(time.Now()); err == nil || !strings.Contains(err.Error(), "forced failure") {
		t.Fatalf("keys generate with the second key pair failing: %v", err)
	}
	if calls != 2 {
		t.Fatalf("%d key pairs attempted, want 2", calls)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--out left behind after the failure: %v", err)
	}
	tokens := hsm.NewTokens(st.Getenv)
	u, _ := hsm.ParseURI(cmd.PKCS11)
	tk, err := tokens.Open(u)
	if err != nil {
		t.Fatal(err)
	}
	left, err := tk.KeyPairs(u)
	tokens.Close()
	if err == nil {
		t.Fatalf("the token still holds %d key pair(s) labelled half after the failure", len(left))
	}

	// The retry, with nothing failing, gets the label.
	if err := cmd.generateInToken(time.Now()); err != nil {
		t.Fatalf("retry under the same label: %v", err)
	}
	if calls != 4 {
		t.Fatalf("%d key pairs attempted in all, want 4", calls)
	}
}
