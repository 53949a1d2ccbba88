package simulator_test

import (
	"bytes"
	"flag"
	"os"
	"testing"

	"github.com/otpgate/otpgate/internal/accounts"
	"github.com/otpgate/otpgate/internal/simulator"
)

var update = flag.Bool("update", false, "rewrite testdata/conformance-accounts.jsonl from the simulator's fixtures")

// The shipped file is what WriteFixtures writes, and imports as it is.
func TestFixturesFile(t *testing.T) {
	var want bytes.Buffer
	if err := simulator.WriteFixtures(&want); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(fixturesFile, want.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(fixturesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("%s is not what the simulator expects: run go test ./internal/simulator -run TestFixturesFile -update", fixturesFile)
	}
	accts, err := accounts.ParseFile(fixturesFile, func(n string) []byte { return []byte("h" + n) })
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != len(simulator.Fixtures()) {
		t.Fatalf("%d accounts imported, want %d", len(accts), len(simulator.Fixtures()))
	}
	phones := map[string]bool{simulator.UnknownPhone: true}
	for _, a := range accts {
		if phones[a.Phone] {
			t.Errorf("phone %s twice (or the reserved unknown phone)", a.Phone)
		}
		phones[a.Phone] = true
	}
	if n := len(simulator.LoadFixtures()); n != simulator.LoadAccounts {
		t.Errorf("%d load accounts", n)
	}
}
