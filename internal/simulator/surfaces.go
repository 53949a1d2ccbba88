package simulator

import (
	"fmt"
	"slices"
	"strings"
)

// Dialect is a generation of Google's protocol (SPEC §1): it decides a
// surface's requestHeader, how its results are written and the form of its
// ErrorResponse.
type Dialect string

// The dialects.
const (
	// Legacy: requestTimestamp a string of millis, protocolVersion
	// {major, minor, revision}, results as enum strings, errors with an
	// errorResponseCode.
	Legacy Dialect = "legacy"
	// Current: requestTimestamp {epochMillis}, a PIAID in the header,
	// results as one-of objects, errors with an errorResponseResult one-of.
	Current Dialect = "current"
)

// The methods of the surfaces, as their paths end.
const (
	methodSendOtp      = "sendOtp"
	methodVerifyOtp    = "verifyOtp"
	methodEcho         = "echo"
	methodAuthenticate = "authenticate"
	methodResendOtp    = "resendOtp"
)

// Surface is one family of Google's methods that an otpgate deployment may
// serve (`otpgate serve --surfaces`): one row of the table the catalogue is
// generated from. Adding a surface of an existing dialect is adding a row.
type Surface struct {
	Name    string   // as --surfaces names it
	Prefix  string   // its methods are at Prefix+method, relative to the target
	Dialect Dialect  // how its bodies are written
	Methods []string // the methods it serves
	// EchoPath is where its echo is when that is not Prefix+"echo": India
	// Cards' echo is the current dialect's /v2/echo.
	EchoPath string
	// label starts the names of its scenarios ("e-wallets: "); the standard
	// surface and India Cards have none, so that the names scenarios had
	// before there were surfaces stay as they were ("sendOtp/…", "cards/…").
	label string
	// roles starts the names of the fixture roles of its own pools, so that
	// a scenario run on two surfaces spends two accounts' budgets.
	roles string
}

// surfaceTable is every surface (SPEC §1). The three legacy surfaces serve
// the same methods with the same shapes under three prefixes [G].
var surfaceTable = []Surface{
	{Name: "standard", Prefix: "/v1/", Dialect: Legacy,
		Methods: []string{methodSendOtp, methodVerifyOtp, methodEcho}},
	{Name: "e-wallets", Prefix: "/e-wallets-v1/", Dialect: Legacy,
		Methods: []string{methodSendOtp, methodVerifyOtp, methodEcho}, label: "e-wallets: ", roles: "e-wallets-"},
	{Name: "korea-e-wallets", Prefix: "/korea-e-wallets-v1/", Dialect: Legacy,
		Methods: []string{methodSendOtp, methodVerifyOtp, methodEcho}, label: "korea-e-wallets: ", roles: "korea-e-wallets-"},
	{Name: "india-cards", Prefix: "/v1/payment-integrator-authenticated-card-fop-api/", Dialect: Current,
		Methods: []string{methodAuthenticate, methodVerifyOtp, methodResendOtp, methodEcho}, EchoPath: "/v2/echo", roles: "card-"},
}

// Surfaces lists the surfaces an otpgate deployment may serve, in the order
// the catalogue runs them.
func Surfaces() []Surface {
	out := make([]Surface, len(surfaceTable))
	for i, s := range surfaceTable {
		s.Methods = slices.Clone(s.Methods)
		out[i] = s
	}
	return out
}

// SurfaceNames are the names --surfaces takes, every surface's.
func SurfaceNames() []string {
	names := make([]string, len(surfaceTable))
	for i, s := range surfaceTable {
		names[i] = s.Name
	}
	return names
}

// checkSurfaces refuses a name that is no surface's.
func checkSurfaces(names []string) error {
	for _, n := range names {
		if !slices.Contains(SurfaceNames(), n) {
			return fmt.Errorf("simulator: no surface %q; the surfaces are %s", n, strings.Join(SurfaceNames(), ", "))
		}
	}
	return nil
}

// served reports whether a target serving names (nil or empty: all of
// them) serves surface.
func served(names []string, surface string) bool {
	return len(names) == 0 || slices.Contains(names, surface)
}

// Path is where method is on the surface, relative to the target.
func (s Surface) Path(method string) string {
	if method == methodEcho && s.EchoPath != "" {
		return s.EchoPath
	}
	return s.Prefix + method
}

// name is the scenario's name on this surface: legacy on a legacy surface,
// current on a current one, after the surface's label; "" when the scenario
// has no version in this dialect.
func (s Surface) name(legacy, current string) string {
	n := legacy
	if s.Dialect == Current {
		n = current
	}
	if n == "" {
		return ""
	}
	return s.label + n
}

// spec picks the SPEC sections of the dialect.
func (s Surface) spec(legacy, current string) string {
	if s.Dialect == Current {
		return current
	}
	return legacy
}

// role is the fixture role of this surface's own pool of role.
func (s Surface) role(role string) string { return s.roles + role }

// outcome is a 200 of a result member (success, otpNotMatched,
// otpAlreadyUsed) in Response.Summary's form: "200 SUCCESS" in the legacy
// dialect, "200 result.success" in the current one.
func (s Surface) outcome(member string) string {
	if s.Dialect == Current {
		return "200 result." + member
	}
	var b strings.Builder
	for i, r := range member {
		if r >= 'A' && r <= 'Z' && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return "200 " + strings.ToUpper(b.String())
}

// surfaceOf finds the surface and method a path (relative to the target)
// belongs to; ok is false for a path of no surface.
func surfaceOf(path string) (s Surface, method string, ok bool) {
	for _, s := range surfaceTable {
		for _, m := range s.Methods {
			if s.Path(m) == path {
				return s, m, true
			}
		}
	}
	return Surface{}, "", false
}

// firstServed is the first surface of dialect d that a target serving
// names serves.
func firstServed(names []string, d Dialect) (Surface, bool) {
	for _, s := range surfaceTable {
		if s.Dialect == d && served(names, s.Name) {
			return s, true
		}
	}
	return Surface{}, false
}
