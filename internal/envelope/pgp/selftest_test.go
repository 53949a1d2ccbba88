package pgp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// TestSelfTest: the probe goes through a good key set, and fails, naming
// the key, when the secret of one of our encryption subkeys is not the one
// its public key belongs to (a key that parses but cannot decrypt).
func TestSelfTest(t *testing.T) {
	now := time.Now()
	gen := func(name string) *openpgp.Entity {
		e, err := GenerateKey(name, name+"@example.com", 2048, 24*time.Hour, now)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	a, b, other, google := gen("a"), gen("b"), gen("other"), gen("google")
	c := newCodec(t, []*openpgp.Entity{a, b}, []*openpgp.Entity{public(t, google)}, func() time.Time { return now })
	if err := c.SelfTest(); err != nil {
		t.Fatalf("SelfTest of good keys: %v", err)
	}

	b.Subkeys[0].PrivateKey.PrivateKey = other.Subkeys[0].PrivateKey.PrivateKey
	c = newCodec(t, []*openpgp.Entity{a, b}, []*openpgp.Entity{public(t, google)}, func() time.Time { return now })
	err := c.SelfTest()
	if err == nil {
		t.Fatal("SelfTest passed with a damaged encryption subkey")
	}
	if fpr := fmt.Sprintf("%X", b.PrimaryKey.Fingerprint); !strings.Contains(err.Error(), fpr) {
		t.Errorf("SelfTest's error does not name the damaged key %s: %v", fpr, err)
	}
}
