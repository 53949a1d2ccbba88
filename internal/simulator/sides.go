package simulator

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"strings"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
)

// KeyFiles are the key files of Google's side of the envelope, as `otpgate
// simulate` is given them: the mirror of `otpgate serve`'s. Google's
// private key signs requests and decrypts answers (serve's --pgp-google-key
// is its public part); the deployment's public key receives requests and
// verifies answers (the public part of serve's --pgp-key). The messages of
// this file name the flags of `otpgate simulate` (--google-pgp-key, …), each
// derived from the scheme, so that they say what to fix.
type KeyFiles struct {
	// Envelope is --envelope: "", "plaintext", "pgp" or "jose"; "" picks
	// the scheme whose keys are given.
	Envelope string
	// InsecurePlaintext is --insecure-plaintext: plain JSON, for a
	// deployment run with --insecure-plaintext or --dev.
	InsecurePlaintext bool
	// PGP and JOSE are the files of each scheme.
	PGP, JOSE SchemeKeyFiles
	// JOSEOptions are the JOSE algorithm lists (serve's, shared).
	JOSEOptions jose.Options
}

// SchemeKeyFiles are the key files of one scheme.
type SchemeKeyFiles struct {
	Google     []string // --google-SCHEME-key: Google's private keys
	Integrator []string // --integrator-SCHEME-key: the deployment's public keys
	// Impostor (--impostor-SCHEME-key) are private keys the deployment
	// does not trust as Google's, to sign envelope/bad-signature's request;
	// Stranger (--stranger-SCHEME-key) public keys that are not the
	// deployment's, to encrypt envelope/wrong-encryption-key's request to.
	Impostor, Stranger []string
}

// files are the files of scheme.
func (k *KeyFiles) files(scheme string) SchemeKeyFiles {
	if scheme == "pgp" {
		return k.PGP
	}
	return k.JOSE
}

func (s SchemeKeyFiles) keys() bool { return len(s.Google)+len(s.Integrator) > 0 }

// Scheme is the scheme the flags choose: plaintext, pgp or jose.
func (k *KeyFiles) Scheme() (string, error) {
	pgpKeys, joseKeys := k.PGP.keys(), k.JOSE.keys()
	scheme := k.Envelope
	if k.InsecurePlaintext {
		if scheme != "" && scheme != "plaintext" {
			return "", fmt.Errorf("--insecure-plaintext and --envelope %s contradict each other", scheme)
		}
		scheme = "plaintext"
	}
	switch {
	case pgpKeys && joseKeys:
		return "", errors.New("give the keys of one scheme: --google-pgp-key/--integrator-pgp-key or --google-jose-key/--integrator-jose-key")
	case scheme == "plaintext" && (pgpKeys || joseKeys):
		return "", errors.New("plaintext and keys exclude each other: drop --insecure-plaintext (or --envelope plaintext), or the keys")
	case scheme == "pgp" && joseKeys, scheme == "jose" && pgpKeys:
		return "", fmt.Errorf("--envelope %s was given with the other scheme's keys", scheme)
	case scheme == "" && pgpKeys:
		scheme = "pgp"
	case scheme == "" && joseKeys:
		scheme = "jose"
	case scheme == "":
		return "", errors.New("no envelope given: --google-pgp-key and --integrator-pgp-key for a PGP deployment, " +
			"--google-jose-key and --integrator-jose-key for a JOSE one, or --insecure-plaintext for a deployment " +
			"run with --insecure-plaintext or --dev")
	}
	return scheme, nil
}

// GoogleSide is Google's side of one deployment's envelope: the codec the
// simulator's requests are sealed and its answers opened with and, once
// Probes has run, the two wrong ones of the envelope scenarios.
type GoogleSide struct {
	Scheme string // plaintext, pgp or jose
	Codec  envelope.Codec
	// Impostor signs with a key the deployment does not trust and
	// encrypts to the deployment; Misdirected signs as Google and encrypts
	// to a stranger. Each is nil when its key was not given.
	Impostor, Misdirected envelope.Codec

	keys                KeyFiles
	signers, recipients map[string]bool // the codec's keys, by public identity
}

// GoogleSide loads the keys of the chosen scheme and builds Google's codec,
// with the checks serve makes of its own.
func (k KeyFiles) GoogleSide() (*GoogleSide, error) {
	scheme, err := k.Scheme()
	if err != nil {
		return nil, err
	}
	g := &GoogleSide{Scheme: scheme, keys: k}
	if scheme == "plaintext" {
		g.Codec = envelope.Plain{}
		return g, nil
	}
	c, err := k.sideCodec(scheme, k.googleKeys(scheme), k.integratorKeys(scheme))
	if err != nil {
		return nil, err
	}
	g.Codec, g.signers, g.recipients = c.codec, c.signers, c.recipients
	return g, nil
}

// sideKeys are the key files of one side of a Google-side codec and the
// flag that named them.
type sideKeys struct {
	flag  string
	files []string
}

func (k *KeyFiles) googleKeys(scheme string) sideKeys {
	return sideKeys{"--google-" + scheme + "-key", k.files(scheme).Google}
}

func (k *KeyFiles) integratorKeys(scheme string) sideKeys {
	return sideKeys{"--integrator-" + scheme + "-key", k.files(scheme).Integrator}
}

// probeFlags names the flags of the impostor's and the stranger's keys of
// scheme.
func probeFlags(scheme string) (impostor, stranger string) {
	return "--impostor-" + scheme + "-key", "--stranger-" + scheme + "-key"
}

// sideCodec is a Google-side codec and the keys it was built with, named by
// their public material (PGP fingerprints, JWK moduli), so that two codecs
// can be told to share a key whatever the files or kids.
type sideCodec struct {
	codec               envelope.Codec
	signers, recipients map[string]bool
}

// sideCodec builds a Google-side codec of scheme, for the simulator's own
// requests and for the impostor and the misdirected ones alike: signer's
// private keys sign requests and decrypt answers, recipient's public keys
// receive requests and verify answers. It is serve's codec with the roles
// swapped, built with the same checks.
func (k *KeyFiles) sideCodec(scheme string, signer, recipient sideKeys) (*sideCodec, error) {
	for _, s := range []sideKeys{signer, recipient} {
		if len(s.files) == 0 {
			return nil, fmt.Errorf("--envelope %s needs %s and %s", scheme, signer.flag, recipient.flag)
		}
	}
	wrap := func(err error) error {
		return fmt.Errorf("playing Google with %s (%s signs requests and decrypts answers, %s receives requests and verifies answers): %w",
			scheme, signer.flag, recipient.flag, err)
	}
	switch scheme {
	case "pgp":
		signers, _, err := pgp.LoadKeys(signer.files, nil)
		if err != nil {
			return nil, misplacedKey(scheme, signer, true, err)
		}
		_, recipients, err := pgp.LoadKeys(nil, recipient.files)
		if err != nil {
			return nil, misplacedKey(scheme, recipient, false, err)
		}
		c, err := pgp.New(signers, recipients, pgp.Options{})
		if err != nil {
			return nil, wrap(err)
		}
		if err := c.Check(); err != nil {
			return nil, wrap(err)
		}
		return &sideCodec{codec: c, signers: pgpIdentities(signers), recipients: pgpIdentities(recipients)}, nil
	case "jose":
		signers, err := jose.LoadKeys(signer.files, nil)
		if err != nil {
			return nil, misplacedKey(scheme, signer, true, err)
		}
		recipients, err := jose.LoadKeys(nil, recipient.files)
		if err != nil {
			return nil, misplacedKey(scheme, recipient, false, err)
		}
		c, err := jose.New(&jose.KeySet{Ours: signers.Ours, Google: recipients.Google}, k.JOSEOptions)
		if err != nil {
			return nil, wrap(err)
		}
		return &sideCodec{codec: c, signers: joseIdentities(signers.Ours), recipients: joseIdentities(recipients.Google)}, nil
	}
	return nil, fmt.Errorf("unknown envelope %q", scheme)
}

// misplacedKey explains err, the failure to load s's files as private (or
// public) keys, when one of them is a key of the other kind: the simulator's
// flags are the mirror of serve's, and it is easy to give serve's files.
func misplacedKey(scheme string, s sideKeys, private bool, err error) error {
	for _, f := range s.files {
		var otherErr error
		switch scheme {
		case "pgp":
			_, otherErr = pgp.ReadKeyFile(f, !private)
		case "jose":
			if private {
				_, otherErr = jose.LoadKeys(nil, []string{f})
			} else {
				_, otherErr = jose.LoadKeys([]string{f}, nil)
			}
		}
		if otherErr != nil {
			continue
		}
		if private {
			return fmt.Errorf("%s %s is a public key: give the private key it belongs to (it signs and decrypts as Google does)", s.flag, f)
		}
		return fmt.Errorf("%s %s holds a private key: give its public part (otpgate keys export-public --scheme %s --key %s)", s.flag, f, scheme, f)
	}
	return fmt.Errorf("%s: %w", s.flag, err)
}

func pgpIdentities(es []*openpgp.Entity) map[string]bool {
	ids := map[string]bool{}
	for _, e := range es {
		ids[fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)] = true
	}
	return ids
}

func joseIdentities(keys []*jose.Key) map[string]bool {
	ids := map[string]bool{}
	for _, k := range keys {
		ids[k.PublicKey.N.Text(16)] = true
	}
	return ids
}

// shared reports whether a and b have a key in common.
func shared(a, b map[string]bool) bool {
	for id := range a {
		if b[id] {
			return true
		}
	}
	return false
}

// Client builds the client that plays Google against target with this
// side's codec.
func (g *GoogleSide) Client(target, piaid string, maxConns int) (*Client, error) {
	return New(Config{Target: target, Codec: g.Codec, PIAID: piaid, MaxConns: maxConns})
}

// Probes builds the two codecs of the envelope scenarios (Impostor and
// Misdirected) from the impostor's and the stranger's key files. Each stays
// nil when its key is not given (its scenario is then skipped); a key of
// the other scheme, or one that is a key of Google's side itself, is an
// error.
func (g *GoogleSide) Probes() error {
	for _, s := range []string{"pgp", "jose"} {
		if f := g.keys.files(s); s != g.Scheme && len(f.Impostor)+len(f.Stranger) > 0 {
			imp, str := probeFlags(s)
			return fmt.Errorf("%s and %s are for a %s target; this one speaks %s", imp, str, s, g.Scheme)
		}
	}
	if g.Scheme == "plaintext" {
		return nil
	}
	files := g.keys.files(g.Scheme)
	impFlag, strFlag := probeFlags(g.Scheme)
	if len(files.Impostor) > 0 {
		imp, err := g.keys.sideCodec(g.Scheme, sideKeys{impFlag, files.Impostor}, g.keys.integratorKeys(g.Scheme))
		if err != nil {
			return err
		}
		if shared(imp.signers, g.signers) {
			return fmt.Errorf("%s holds a key of %s: the impostor must sign with a key the deployment does not trust",
				impFlag, g.keys.googleKeys(g.Scheme).flag)
		}
		g.Impostor = imp.codec
	}
	if len(files.Stranger) > 0 {
		mis, err := g.keys.sideCodec(g.Scheme, g.keys.googleKeys(g.Scheme), sideKeys{strFlag, files.Stranger})
		if err != nil {
			return err
		}
		if shared(mis.recipients, g.recipients) {
			return fmt.Errorf("%s holds a key of %s: the stranger's key must be one the deployment cannot decrypt with",
				strFlag, g.keys.integratorKeys(g.Scheme).flag)
		}
		g.Misdirected = mis.codec
	}
	return nil
}

// Preflight sends one echo before a run, on the first surface of surfaces
// (nil: all) that the target serves, and stops the run with the reason
// when the answer shows that no scenario can pass: the target is not there,
// it speaks another scheme, or the keys on the two sides are not each
// other's pairs. Anything else, even a wrong answer, is left to the run to
// report.
func (g *GoogleSide) Preflight(ctx context.Context, c *Client, surfaces []string) error {
	path, body := preflightEcho(c, surfaces)
	r, err := c.Post(ctx, path, body)
	if err != nil {
		return fmt.Errorf("the target does not answer an echo: %w", err)
	}
	if theirs := schemeOf(r.ContentType); theirs != "" && theirs != g.Scheme {
		return fmt.Errorf("the target answered an echo in %s (%d, %s), not in %s: %s", theirs, r.Status, r.ContentType, g.Scheme, schemeHint(theirs))
	}
	if g.Scheme == "plaintext" {
		return nil
	}
	google, integrator := g.keys.googleKeys(g.Scheme).flag, g.keys.integratorKeys(g.Scheme).flag
	switch {
	case r.Status == 401 && len(r.Sealed) == 0:
		return fmt.Errorf("the target refused Google's signature (401): %s must be the private key of the deployment's --%s-google-key", google, g.Scheme)
	case r.OpenErr != nil:
		return fmt.Errorf("the target's answer to an echo does not open with Google's side (%s): %s must be the public part of "+
			"the deployment's --%s-key, and %s the private key of its --%s-google-key", OpenFailure(r.OpenErr), integrator, g.Scheme, google, g.Scheme)
	case r.ErrorCode() == "INVALID_PAYLOAD_ENCRYPTION":
		return fmt.Errorf("the target cannot decrypt Google's requests (400 INVALID_PAYLOAD_ENCRYPTION): %s must be the public part of the deployment's --%s-key", integrator, g.Scheme)
	}
	return nil
}

// preflightEcho is the echo of the first served surface, a legacy one
// where there is one: it needs no PIAID.
func preflightEcho(c *Client, surfaces []string) (string, map[string]any) {
	id := c.NewRequestID("preflight")
	const message = "otpgate simulator preflight"
	if sf, ok := firstServed(surfaces, Legacy); ok {
		return sf.Path(methodEcho), c.EchoBody(id, message)
	}
	if sf, ok := firstServed(surfaces, Current); ok {
		return sf.Path(methodEcho), c.EchoV2Body(id, message)
	}
	return PathEcho, c.EchoBody(id, message)
}

// schemeOf names the scheme whose sealed bodies have contentType, or "".
func schemeOf(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	for scheme, ct := range map[string]string{"plaintext": envelope.Plain{}.ContentType(), "pgp": pgp.ContentType, "jose": jose.ContentType} {
		if m, _, _ := mime.ParseMediaType(ct); m == mt {
			return scheme
		}
	}
	return ""
}

func schemeHint(scheme string) string {
	if scheme == "plaintext" {
		return "it runs with --insecure-plaintext or --dev; simulate it with --insecure-plaintext"
	}
	return fmt.Sprintf("give Google's side of its %s keys (--google-%s-key and --integrator-%s-key)", scheme, scheme, scheme)
}

// ExplainSkips rewrites the reason of the envelope scenarios that a run
// skipped for want of an impostor's or a stranger's key, to name the flag
// to give.
func (g *GoogleSide) ExplainSkips(rep *Report) {
	if g.Scheme == "plaintext" {
		return // skipped for speaking plaintext, whatever the keys
	}
	needs := map[string]string{}
	for _, s := range Catalogue() {
		needs[s.Name] = s.Requires()
	}
	impFlag, strFlag := probeFlags(g.Scheme)
	for i, r := range rep.Results {
		if r.Status != Skip {
			continue
		}
		switch {
		case g.Impostor == nil && strings.Contains(needs[r.Name], "untrusted signing key"):
			rep.Results[i].Detail = "needs a Google-side key the target does not trust, to sign with: give " + impFlag +
				" FILE (a private key of its own, e.g. from otpgate keys generate)"
		case g.Misdirected == nil && strings.Contains(needs[r.Name], "stranger's public key"):
			rep.Results[i].Detail = "needs a public key that is not the target's, to encrypt to: give " + strFlag +
				" FILE (e.g. otpgate keys export-public of a fresh key)"
		}
	}
}
