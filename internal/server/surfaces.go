package server

import (
	"fmt"
	"slices"
	"strings"

	"github.com/otpgate/otpgate/internal/gsp"
)

// Dialect is the generation of Google's protocol a route speaks (SPEC §1).
type Dialect string

// The two dialects.
const (
	Legacy  Dialect = "legacy"
	Current Dialect = "current"
)

// Surface is one of Google's APIs that asks an integrator for OTPs. Every
// surface of a dialect has the same methods with the same shapes; only the
// path differs (SPEC §1).
type Surface struct {
	Name    string // as --surfaces names it
	Prefix  string // the methods' path under the base path
	Dialect Dialect
	// Scope keeps one legacy surface's idempotency records apart from
	// another's: each of Google's APIs numbers its requests on its own. The
	// current dialect is scoped by PIAID instead (SPEC §4).
	Scope string
}

// Surfaces is the routing table: a new surface is a row.
var Surfaces = []*Surface{
	{Name: "standard", Prefix: "/v1/", Dialect: Legacy},
	{Name: "e-wallets", Prefix: "/e-wallets-v1/", Dialect: Legacy, Scope: "e-wallets-v1"},
	{Name: "korea-e-wallets", Prefix: "/korea-e-wallets-v1/", Dialect: Legacy, Scope: "korea-e-wallets-v1"},
	{Name: "india-cards", Prefix: "/v1/payment-integrator-authenticated-card-fop-api/", Dialect: Current},
}

// SurfaceNames lists the names --surfaces accepts.
func SurfaceNames() []string {
	names := make([]string, len(Surfaces))
	for i, sf := range Surfaces {
		names[i] = sf.Name
	}
	return names
}

// SelectSurfaces returns the named surfaces; no names means all of them.
func SelectSurfaces(names []string) ([]*Surface, error) {
	if len(names) == 0 {
		return Surfaces, nil
	}
	var out []*Surface
	for _, name := range names {
		sf := surfaceNamed(name)
		switch {
		case sf == nil:
			return nil, fmt.Errorf("unknown surface %q: the surfaces are %s", name, strings.Join(SurfaceNames(), ", "))
		case slices.Contains(out, sf):
			return nil, fmt.Errorf("surface %q is named twice", name)
		}
		out = append(out, sf)
	}
	return out, nil
}

func surfaceNamed(name string) *Surface {
	for _, sf := range Surfaces {
		if sf.Name == name {
			return sf
		}
	}
	return nil
}

// route is one POST path and the method that serves it.
type route struct {
	surface *Surface
	path    string // under the base path
	method  string
	handler handlerFunc
}

// routes expands the served surfaces by their dialect's methods. A method
// path starting with "/" lies outside the surface's prefix (/v2/echo).
func (s *Server) routes() []route {
	type method struct {
		path, name string
		handler    handlerFunc
	}
	methods := map[Dialect][]method{
		Legacy: {
			{"sendOtp", gsp.MethodSendOtp, s.sendOtp},
			{"verifyOtp", gsp.MethodVerifyOtp, s.verifyOtp},
			{"echo", gsp.MethodEcho, s.echo},
		},
		Current: {
			{"authenticate", gsp.MethodAuthenticate, s.authenticate},
			{"verifyOtp", gsp.MethodCardVerifyOtp, s.cardVerifyOtp},
			{"resendOtp", gsp.MethodResendOtp, s.resendOtp},
			{"/v2/echo", gsp.MethodEchoV2, s.echoV2},
		},
	}
	surfaces := s.cfg.Surfaces
	if surfaces == nil {
		surfaces = Surfaces
	}
	var out []route
	for _, sf := range surfaces {
		for _, m := range methods[sf.Dialect] {
			p := m.path
			if !strings.HasPrefix(p, "/") {
				p = sf.Prefix + p
			}
			out = append(out, route{surface: sf, path: p, method: m.name, handler: m.handler})
		}
	}
	return out
}
