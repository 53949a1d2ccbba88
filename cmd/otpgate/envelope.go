package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
)

// envelopeFlags choose the message protection of a deployment and its keys
// (SPEC §5). Several keys per side may be active at once: old and new side by
// side during a rotation.
type envelopeFlags struct {
	Envelope      string   `help:"Message protection: pgp or jose (JWE+JWS). Default: whichever scheme's keys are given." enum:",pgp,jose" default:""`
	PGPKey        []string `name:"pgp-key" help:"Our PGP private key file (mode 0600): decrypts requests, signs responses. Repeatable." type:"path" placeholder:"FILE"`
	PGPGoogleKey  []string `name:"pgp-google-key" help:"Google's PGP public key file: verifies requests, receives responses. Repeatable." type:"path" placeholder:"FILE"`
	JOSEKey       []string `name:"jose-key" help:"Our private JWK or JWKS file (mode 0600, every key with a kid). Repeatable." type:"path" placeholder:"FILE"`
	JOSEGoogleKey []string `name:"jose-google-key" help:"Google's public JWK or JWKS file. Repeatable." type:"path" placeholder:"FILE"`
	joseAlgFlags  `embed:""`
}

// joseAlgFlags are the JOSE algorithm allow-lists. serve and simulate (which
// plays Google) share them, so that their defaults cannot drift apart.
type joseAlgFlags struct {
	JOSEKeyAlg   []string `name:"jose-key-alg" help:"JWE key algorithms accepted; the first is used for what this side sends." default:"RSA1_5"`
	JOSEEnc      []string `name:"jose-enc" help:"JWE content encryptions accepted; the first is used for what this side sends." default:"A128CBC-HS256"`
	JOSESigAlg   []string `name:"jose-sig-alg" help:"JWS signature algorithms accepted; the first is used for what this side sends." default:"RS256"`
	JOSECompress bool     `name:"jose-compress" help:"Compress what this side sends (JWE zip DEF); compressed bodies are always accepted."`
}

// options are the jose.Options of these flags.
func (f joseAlgFlags) options(now func() time.Time) jose.Options {
	return jose.Options{KeyAlgorithms: f.JOSEKeyAlg, ContentEncryptions: f.JOSEEnc,
		SignatureAlgorithms: f.JOSESigAlg, Compress: f.JOSECompress, Now: now}
}

// scheme is the chosen scheme, "" when no keys are configured.
func (f *envelopeFlags) scheme() (string, error) {
	pgpKeys := len(f.PGPKey)+len(f.PGPGoogleKey) > 0
	joseKeys := len(f.JOSEKey)+len(f.JOSEGoogleKey) > 0
	switch {
	case pgpKeys && joseKeys:
		return "", errors.New("give the keys of one scheme: --pgp-key/--pgp-google-key or --jose-key/--jose-google-key")
	case f.Envelope == "pgp" && !pgpKeys, f.Envelope == "jose" && !joseKeys:
		return "", fmt.Errorf("--envelope %s needs --%s-key and --%s-google-key", f.Envelope, f.Envelope, f.Envelope)
	case f.Envelope != "" && (f.Envelope == "pgp") != pgpKeys:
		return "", fmt.Errorf("--envelope %s was given with the other scheme's keys", f.Envelope)
	case pgpKeys:
		return "pgp", nil
	case joseKeys:
		return "jose", nil
	}
	return "", nil
}

// codec loads the keys once and builds the codec; it fails when the key set
// cannot serve now (no usable key to decrypt, sign, verify or encrypt to).
func (f *envelopeFlags) codec(scheme string, now func() time.Time) (envelope.Codec, []envelope.KeyInfo, error) {
	switch scheme {
	case "pgp":
		ours, google, err := pgp.LoadKeys(f.PGPKey, f.PGPGoogleKey)
		if err != nil {
			return nil, nil, err
		}
		c, err := pgp.New(ours, google, pgp.Options{Now: now})
		if err != nil {
			return nil, nil, err
		}
		if err := c.Check(); err != nil {
			return nil, nil, err
		}
		return c, pgpKeyInfo(c.Keys()), nil
	case "jose":
		ks, err := jose.LoadKeys(f.JOSEKey, f.JOSEGoogleKey)
		if err != nil {
			return nil, nil, err
		}
		c, err := jose.New(ks, f.options(now))
		if err != nil {
			return nil, nil, err
		}
		return c, joseKeyInfo(c.Keys()), nil
	}
	return nil, nil, fmt.Errorf("unknown envelope %q", scheme)
}

func pgpKeyInfo(keys []pgp.KeyInfo) []envelope.KeyInfo {
	out := make([]envelope.KeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, envelope.KeyInfo{Scheme: "pgp", Owner: k.Owner, ID: k.Fingerprint, Algorithm: k.Algorithm,
			Usage: k.Usage, Expires: k.Expires, Active: k.Active, ExpiringSoon: k.ExpiringSoon})
	}
	return out
}

func joseKeyInfo(keys []jose.KeyInfo) []envelope.KeyInfo {
	out := make([]envelope.KeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, envelope.KeyInfo{Scheme: "jose", Owner: k.Owner, ID: k.ID, Algorithm: k.Algorithm,
			Usage: k.Usage, Expires: k.Expires, Active: k.Active, ExpiringSoon: k.ExpiringSoon})
	}
	return out
}

// keyLister returns the function that lists a codec's keys as of now.
func keyLister(c envelope.Codec) func() []envelope.KeyInfo {
	switch c := c.(type) {
	case *pgp.Codec:
		return func() []envelope.KeyInfo { return pgpKeyInfo(c.Keys()) }
	case *jose.Codec:
		return func() []envelope.KeyInfo { return joseKeyInfo(c.Keys()) }
	}
	return func() []envelope.KeyInfo { return nil }
}
