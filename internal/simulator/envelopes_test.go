package simulator_test

import (
	"context"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
	"github.com/otpgate/otpgate/internal/simulator"
)

// sides are the codecs of one scheme: the deployment's, Google's (its
// private key, the deployment's public one), an impostor Google the
// deployment does not trust, and a Google encrypting to a stranger.
type sides struct {
	server, google, impostor, misdirected envelope.Codec
}

// TestConformanceOverRealEnvelopes runs the whole catalogue in process
// against servers protected with the real PGP and JWE+JWS codecs.
func TestConformanceOverRealEnvelopes(t *testing.T) {
	for name, mkSides := range map[string]func(*testing.T) sides{"pgp": pgpSides, "jose": joseSides} {
		t.Run(name, func(t *testing.T) {
			s := mkSides(t)
			tg := startTarget(t, withServerCodec(s.server))
			rep, err := simulator.Conformance(context.Background(), simulator.ConformanceConfig{
				Client: tg.client(t, s.google, 0), Codes: tg.codes(t), Impostor: s.impostor, Misdirected: s.misdirected})
			if err != nil {
				t.Fatal(err)
			}
			requireOnly(t, rep, skipsOf(neverDriveable, surfacesOff)...)
		})
	}
}

func pgpSides(t *testing.T) sides {
	t.Helper()
	now, year := time.Now(), 365*24*time.Hour
	gen := func(name string) (*openpgp.Entity, []*openpgp.Entity) {
		e, err := pgp.GenerateKey(name, "", 2048, year, now)
		if err != nil {
			t.Fatal(err)
		}
		armored, err := pgp.ArmorPublicKey(e)
		if err != nil {
			t.Fatal(err)
		}
		public, err := pgp.ParseKeys(armored)
		if err != nil {
			t.Fatal(err)
		}
		return e, public
	}
	ours, oursPub := gen("otpgate")
	google, googlePub := gen("google")
	impostor, _ := gen("impostor")
	_, strangerPub := gen("stranger")
	codec := func(own *openpgp.Entity, other []*openpgp.Entity) envelope.Codec {
		c, err := pgp.New([]*openpgp.Entity{own}, other, pgp.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return sides{server: codec(ours, googlePub), google: codec(google, oursPub),
		impostor: codec(impostor, oursPub), misdirected: codec(google, strangerPub)}
}

func joseSides(t *testing.T) sides {
	t.Helper()
	now, year := time.Now(), 365*24*time.Hour
	gen := func(kid string) *jose.Key {
		k, err := jose.GenerateKey(kid, 2048, jose.UseBoth, year, now)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	ours, google, impostor, stranger := gen("ours"), gen("google"), gen("impostor"), gen("stranger")
	codec := func(own, other *jose.Key) envelope.Codec {
		c, err := jose.New(&jose.KeySet{Ours: []*jose.Key{own}, Google: []*jose.Key{other.Public()}}, jose.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return sides{server: codec(ours, google), google: codec(google, ours),
		impostor: codec(impostor, ours), misdirected: codec(google, stranger)}
}
