package simulator_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/simulator"
)

// The surface table says what SPEC §1 says: three legacy surfaces of the
// same methods under their prefixes, and India Cards in the current
// dialect with its echo at /v2/echo.
func TestSurfaceTable(t *testing.T) {
	legacy := []string{"sendOtp", "verifyOtp", "echo"}
	want := []struct {
		name, prefix string
		dialect      simulator.Dialect
		methods      []string
		echo         string
	}{
		{"standard", "/v1/", simulator.Legacy, legacy, "/v1/echo"},
		{"e-wallets", "/e-wallets-v1/", simulator.Legacy, legacy, "/e-wallets-v1/echo"},
		{"korea-e-wallets", "/korea-e-wallets-v1/", simulator.Legacy, legacy, "/korea-e-wallets-v1/echo"},
		{"india-cards", "/v1/payment-integrator-authenticated-card-fop-api/", simulator.Current,
			[]string{"authenticate", "verifyOtp", "resendOtp", "echo"}, "/v2/echo"},
	}
	got := simulator.Surfaces()
	if len(got) != len(want) {
		t.Fatalf("%d surfaces, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Prefix != w.prefix || g.Dialect != w.dialect || !slices.Equal(g.Methods, w.methods) || g.Path("echo") != w.echo {
			t.Errorf("surface %d: %+v (echo at %s), want %+v", i, g, g.Path("echo"), w)
		}
	}
	if names := simulator.SurfaceNames(); !slices.Equal(names, []string{"standard", "e-wallets", "korea-e-wallets", "india-cards"}) {
		t.Errorf("SurfaceNames() = %v", names)
	}
	// The exported paths are the table's.
	standard, cards := got[0], got[3]
	for path, want := range map[string]string{
		simulator.PathSendOtp: standard.Path("sendOtp"), simulator.PathVerifyOtp: standard.Path("verifyOtp"),
		simulator.PathEcho: standard.Path("echo"), simulator.PathAuthenticate: cards.Path("authenticate"),
		simulator.PathCardVerifyOtp: cards.Path("verifyOtp"), simulator.PathResendOtp: cards.Path("resendOtp"),
		simulator.PathEchoV2: cards.Path("echo"),
	} {
		if path != want {
			t.Errorf("%s, the table says %s", path, want)
		}
	}
	// Surfaces returns a copy: the caller cannot edit the table.
	got[0].Methods[0] = "changed"
	if simulator.Surfaces()[0].Methods[0] != "sendOtp" {
		t.Error("Surfaces() shares its Methods with the table")
	}
}

// The catalogue is the same scenarios on every legacy surface: each one's
// name on e-wallets and Korea e-wallets is the standard one's with the
// surface's label; names are unique; every scenario but those of the
// envelope and of turned-off surfaces plays on a surface.
func TestCatalogueOverSurfaces(t *testing.T) {
	bySurface := map[string][]string{}
	seen := map[string]bool{}
	for _, s := range simulator.Catalogue() {
		if seen[s.Name] {
			t.Errorf("two scenarios named %q", s.Name)
		}
		seen[s.Name] = true
		surface := s.Surface()
		if surface == "" && !strings.HasPrefix(s.Name, "envelope/") && !strings.HasPrefix(s.Name, "surfaces/") {
			t.Errorf("%s plays on no surface", s.Name)
		}
		name := s.Name
		if label := surface + ": "; strings.HasPrefix(name, label) {
			name = strings.TrimPrefix(name, label)
		}
		bySurface[surface] = append(bySurface[surface], name)
	}
	standard := bySurface["standard"]
	if len(standard) < 40 {
		t.Fatalf("%d standard scenarios", len(standard))
	}
	for _, s := range []string{"e-wallets", "korea-e-wallets"} {
		if !slices.Equal(bySurface[s], standard) {
			t.Errorf("%s's scenarios differ from the standard surface's:\n%v\n%v", s, bySurface[s], standard)
		}
	}
	for _, s := range simulator.Catalogue() {
		if s.Surface() == "e-wallets" && !strings.HasPrefix(s.Name, "e-wallets: ") {
			t.Errorf("%s: an e-wallets scenario without the surface in its name", s.Name)
		}
	}
	// The scenarios of the changed wire contract are there.
	for _, name := range []string{
		"idempotency/other-method", "idempotency/send-and-verify-share-a-request-id",
		"e-wallets: idempotency/send-and-verify-share-a-request-id", "cards/resend-and-verify-share-a-request-id",
		"body/duplicate-request-id", "body/duplicate-phone-number", "body/request-id-other-case", "body/phone-number-other-case",
		"cards/body-duplicate-card-number", "cards/body-card-number-other-case",
		"cards/authenticate-token-otp-sent", "cards/authenticate-unknown-token", "cards/authenticate-expired-token",
		"cards/authenticate-card-and-token", "cards/authenticate-no-account-details",
		"echo/v2-major-1", "header/echo-v2-wrong-major", "header/cards-request-id-101-chars",
		"surfaces/standard-off", "surfaces/e-wallets-off", "surfaces/korea-e-wallets-off", "surfaces/india-cards-off",
		"korea-e-wallets: sendOtp/unknown-phone-number",
	} {
		if !seen[name] {
			t.Errorf("no scenario %q", name)
		}
	}
}

// A surface that is no surface's name is a config error, named.
func TestConformanceRefusesUnknownSurfaces(t *testing.T) {
	c, err := simulator.New(simulator.Config{Target: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = simulator.Conformance(context.Background(), simulator.ConformanceConfig{Client: c, Surfaces: []string{"standard", "wallets"}})
	if err == nil || !strings.Contains(err.Error(), `"wallets"`) || !strings.Contains(err.Error(), "korea-e-wallets") {
		t.Errorf("err = %v, want one naming the bad surface and the good ones", err)
	}
}
