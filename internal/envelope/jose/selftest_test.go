package jose

import (
	"strings"
	"testing"
)

// TestSelfTest: the probe goes through a good key set, and fails, naming
// the key, when one of our keys holds a private key that is not its public
// key's (a key that parses but cannot decrypt or sign).
func TestSelfTest(t *testing.T) {
	p := newParties(t)
	p.ours = append(p.ours, key(t, "ours-2"))
	if err := p.server(t, Options{}).SelfTest(); err != nil {
		t.Fatalf("SelfTest of good keys: %v", err)
	}
	p.ours[1].PrivateKey = rsaKey(t, "stranger", 2048)
	err := p.server(t, Options{}).SelfTest()
	if err == nil || !strings.Contains(err.Error(), `"ours-2"`) {
		t.Fatalf("SelfTest with a damaged key ours-2: %v, want an error naming it", err)
	}
}
