package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
	"github.com/otpgate/otpgate/internal/simulator"
)

// simulateCmd plays Google against a deployment: `otpgate simulate
// conformance`, `otpgate simulate load` and `otpgate simulate fixtures`.
type simulateCmd struct {
	Conformance simulateConformanceCmd `cmd:"" help:"Run every scenario of the wire contract against a deployment and print what passed."`
	Load        simulateLoadCmd        `cmd:"" help:"Measure a deployment under closed-loop load (and, with --floor, against what its envelope allows)."`
	Fixtures    simulateFixturesCmd    `cmd:"" help:"Print the accounts the scenarios and the load play against, for otpgate accounts import (JSON lines)."`
}

// simulateTarget is what both conformance and load need to talk to a target.
type simulateTarget struct {
	Target            string        `help:"Base URL of the deployment, with its base path if any (e.g. http://127.0.0.1:8080)." placeholder:"URL"`
	PIAID             string        `name:"piaid" help:"A paymentIntegratorAccountId the deployment serves (its --piaid), for the India Cards scenarios." placeholder:"PIAID"`
	Envelope          string        `help:"Message protection of the deployment: plaintext, pgp or jose. Default: whichever scheme's keys are given." enum:"plaintext,pgp,jose," default:"" placeholder:"SCHEME"`
	InsecurePlaintext bool          `help:"Send and read plain JSON (--envelope plaintext), for a deployment run with --insecure-plaintext or --dev."`
	SMSFile           string        `name:"sms-file" help:"The deployment's SMS file sink (serve --sms-file), read for the codes it texts." type:"path" placeholder:"PATH"`
	CodeLength        int           `help:"Digits per code on the deployment (its --code-length); 0 takes any run of 6 to 10 digits." default:"0"`
	SMSTimeout        time.Duration `name:"sms-wait" help:"How long to wait for an SMS to appear in --sms-file." default:"10s"`
	JSON              bool          `name:"json" help:"Print the report as JSON, for machines."`

	googleSideFlags `embed:""`
}

// googleSideFlags are the keys of Google's side of the envelope: the mirror
// of serve's envelopeFlags. Google's private key signs requests and decrypts
// answers (serve's --pgp-google-key is its public part); the deployment's
// public key receives requests and verifies answers (the public part of
// serve's --pgp-key). The JOSE algorithm lists are serve's, with the same
// defaults: the first entry of each is what requests use.
type googleSideFlags struct {
	GooglePGPKey      []string `name:"google-pgp-key" help:"Google's PGP PRIVATE key file (mode 0600), the pair of the deployment's --pgp-google-key: signs requests, decrypts answers. Repeatable." type:"path" placeholder:"FILE"`
	IntegratorPGPKey  []string `name:"integrator-pgp-key" help:"The deployment's PGP PUBLIC key file (otpgate keys export-public of its --pgp-key): receives requests, verifies answers. Repeatable." type:"path" placeholder:"FILE"`
	GoogleJOSEKey     []string `name:"google-jose-key" help:"Google's private JWK or JWKS file (mode 0600), the pair of the deployment's --jose-google-key. Repeatable." type:"path" placeholder:"FILE"`
	IntegratorJOSEKey []string `name:"integrator-jose-key" help:"The deployment's public JWK or JWKS file (otpgate keys export-public of its --jose-key). Repeatable." type:"path" placeholder:"FILE"`
	joseAlgFlags      `embed:""`
}

// scheme is the chosen scheme: plaintext, pgp or jose.
func (t *simulateTarget) scheme() (string, error) {
	pgpKeys := len(t.GooglePGPKey)+len(t.IntegratorPGPKey) > 0
	joseKeys := len(t.GoogleJOSEKey)+len(t.IntegratorJOSEKey) > 0
	scheme := t.Envelope
	if t.InsecurePlaintext {
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

// googleSide is the envelope codec that plays Google, and its scheme.
func (t *simulateTarget) googleSide() (*sideCodec, string, error) {
	scheme, err := t.scheme()
	if err != nil {
		return nil, "", err
	}
	if scheme == "plaintext" {
		return &sideCodec{Codec: envelope.Plain{}}, scheme, nil
	}
	c, err := t.googleSideCodec(scheme, t.googleKeys(scheme), t.integratorKeys(scheme))
	if err != nil {
		return nil, "", err
	}
	return c, scheme, nil
}

func (t *simulateTarget) googleKeys(scheme string) sideKeys {
	if scheme == "pgp" {
		return sideKeys{"--google-pgp-key", t.GooglePGPKey}
	}
	return sideKeys{"--google-jose-key", t.GoogleJOSEKey}
}

func (t *simulateTarget) integratorKeys(scheme string) sideKeys {
	if scheme == "pgp" {
		return sideKeys{"--integrator-pgp-key", t.IntegratorPGPKey}
	}
	return sideKeys{"--integrator-jose-key", t.IntegratorJOSEKey}
}

// sideKeys are the key files of one side of a Google-side codec and the flag
// that named them.
type sideKeys struct {
	flag  string
	files []string
}

// sideCodec is a Google-side codec and the keys it was built with, named by
// their public material (PGP fingerprints, JWK moduli), so that two codecs
// can be told to share a key whatever the files or kids.
type sideCodec struct {
	envelope.Codec
	signers, recipients map[string]bool
}

// googleSideCodec builds a Google-side codec of scheme, for the simulator's
// own requests and for the impostor and the misdirected ones alike: signer's
// private keys sign requests and decrypt answers, recipient's public keys
// receive requests and verify answers. It is serve's codec with the roles
// swapped, built with the same checks.
func (t *simulateTarget) googleSideCodec(scheme string, signer, recipient sideKeys) (*sideCodec, error) {
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
		return &sideCodec{Codec: c, signers: pgpIdentities(signers), recipients: pgpIdentities(recipients)}, nil
	case "jose":
		signers, err := jose.LoadKeys(signer.files, nil)
		if err != nil {
			return nil, misplacedKey(scheme, signer, true, err)
		}
		recipients, err := jose.LoadKeys(nil, recipient.files)
		if err != nil {
			return nil, misplacedKey(scheme, recipient, false, err)
		}
		c, err := jose.New(&jose.KeySet{Ours: signers.Ours, Google: recipients.Google}, t.options(nil))
		if err != nil {
			return nil, wrap(err)
		}
		return &sideCodec{Codec: c, signers: joseIdentities(signers.Ours), recipients: joseIdentities(recipients.Google)}, nil
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

// client builds the client that plays Google against the target, and
// returns its codec and scheme too.
func (t *simulateTarget) client(maxConns int) (*simulator.Client, *sideCodec, string, error) {
	if t.Target == "" {
		return nil, nil, "", errors.New("--target is required: the base URL of the deployment")
	}
	codec, scheme, err := t.googleSide()
	if err != nil {
		return nil, nil, "", err
	}
	c, err := simulator.New(simulator.Config{Target: t.Target, Codec: codec.Codec, PIAID: t.PIAID, MaxConns: maxConns})
	if err != nil {
		return nil, nil, "", err
	}
	return c, codec, scheme, nil
}

// preflight sends one echo before a run and stops it with the reason when
// the answer shows that no scenario can pass: the target is not there, it
// speaks another scheme, or the keys on the two sides are not each other's
// pairs. Anything else, even a wrong answer, is left to the run to report.
func (t *simulateTarget) preflight(ctx context.Context, c *simulator.Client, scheme string) error {
	r, err := c.Post(ctx, simulator.PathEcho, c.EchoBody(c.NewRequestID("preflight"), "otpgate simulator preflight"))
	if err != nil {
		return fmt.Errorf("the target does not answer an echo: %w", err)
	}
	if theirs := schemeOf(r.ContentType); theirs != "" && theirs != scheme {
		return fmt.Errorf("the target answered an echo in %s (%d, %s), not in %s: %s", theirs, r.Status, r.ContentType, scheme, schemeHint(theirs))
	}
	if scheme == "plaintext" {
		return nil
	}
	google, integrator := t.googleKeys(scheme).flag, t.integratorKeys(scheme).flag
	switch {
	case r.Status == 401 && len(r.Sealed) == 0:
		return fmt.Errorf("the target refused Google's signature (401): %s must be the private key of the deployment's --%s-google-key", google, scheme)
	case r.OpenErr != nil:
		return fmt.Errorf("the target's answer to an echo does not open with Google's side (%s): %s must be the public part of "+
			"the deployment's --%s-key, and %s the private key of its --%s-google-key", simulator.OpenFailure(r.OpenErr), integrator, scheme, google, scheme)
	case r.ErrorCode() == "INVALID_PAYLOAD_ENCRYPTION":
		return fmt.Errorf("the target cannot decrypt Google's requests (400 INVALID_PAYLOAD_ENCRYPTION): %s must be the public part of the deployment's --%s-key", integrator, scheme)
	}
	return nil
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

func (t *simulateTarget) smsFile() (*simulator.SMSFile, error) {
	return simulator.OpenSMSFile(t.SMSFile, simulator.SMSFileOptions{CodeLength: t.CodeLength, Timeout: t.SMSTimeout})
}

type simulateConformanceCmd struct {
	simulateTarget `embed:""`

	Interactive     bool          `help:"Ask for each code on standard input (an operator reads the phone) instead of reading --sms-file."`
	TimestampWindow time.Duration `help:"The deployment's --timestamp-window." default:"60s"`
	MaxBodyBytes    int64         `help:"The deployment's --max-body-bytes." default:"65536"`
	MaxAttempts     int           `help:"The deployment's --max-attempts." default:"5"`
	LimitProbe      int           `help:"Most SUCCESS sends the OTP_LIMIT_REACHED scenario makes before it fails: the deployment's --send-limit must allow fewer per window." default:"25"`
	ResendProbe     int           `help:"Most successful resendOtp the resend-limit scenario makes before it fails: the deployment's --max-resends must be lower." default:"10"`
	Only            string        `help:"Run only the scenarios whose name matches this regular expression (e.g. '^cards/')." placeholder:"REGEXP"`
	List            bool          `help:"List the scenarios and exit."`

	ImpostorPGPKey  []string `name:"impostor-pgp-key" help:"A PGP PRIVATE key file (mode 0600) the deployment does not trust as Google's (a fresh otpgate keys generate): signs the request of envelope/bad-signature. Repeatable." type:"path" placeholder:"FILE"`
	StrangerPGPKey  []string `name:"stranger-pgp-key" help:"A PGP PUBLIC key file that is not the deployment's: envelope/wrong-encryption-key encrypts its request to it. Repeatable." type:"path" placeholder:"FILE"`
	ImpostorJOSEKey []string `name:"impostor-jose-key" help:"A private JWK or JWKS file (mode 0600) the deployment does not trust as Google's: signs the request of envelope/bad-signature. Repeatable." type:"path" placeholder:"FILE"`
	StrangerJOSEKey []string `name:"stranger-jose-key" help:"A public JWK or JWKS file that is not the deployment's: envelope/wrong-encryption-key encrypts its request to it. Repeatable." type:"path" placeholder:"FILE"`
}

// probeFlags names the flags of the impostor's and the stranger's keys of
// scheme.
func probeFlags(scheme string) (impostor, stranger string) {
	return "--impostor-" + scheme + "-key", "--stranger-" + scheme + "-key"
}

// probes builds the two codecs of the envelope scenarios: the impostor signs
// with a key the deployment does not trust and encrypts to the deployment;
// the misdirected one signs as Google and encrypts to a stranger. Each is
// nil when its key is not given (its scenario is then skipped).
func (c *simulateConformanceCmd) probes(scheme string, google *sideCodec) (impostor, misdirected envelope.Codec, err error) {
	given := map[string][2][]string{"pgp": {c.ImpostorPGPKey, c.StrangerPGPKey}, "jose": {c.ImpostorJOSEKey, c.StrangerJOSEKey}}
	for s, files := range given {
		if s != scheme && len(files[0])+len(files[1]) > 0 {
			imp, str := probeFlags(s)
			return nil, nil, fmt.Errorf("%s and %s are for a %s target; this one speaks %s", imp, str, s, scheme)
		}
	}
	if scheme == "plaintext" {
		return nil, nil, nil
	}
	impFlag, strFlag := probeFlags(scheme)
	if files := given[scheme][0]; len(files) > 0 {
		imp, err := c.googleSideCodec(scheme, sideKeys{impFlag, files}, c.integratorKeys(scheme))
		if err != nil {
			return nil, nil, err
		}
		if shared(imp.signers, google.signers) {
			return nil, nil, fmt.Errorf("%s holds a key of %s: the impostor must sign with a key the deployment does not trust",
				impFlag, c.googleKeys(scheme).flag)
		}
		impostor = imp.Codec
	}
	if files := given[scheme][1]; len(files) > 0 {
		mis, err := c.googleSideCodec(scheme, c.googleKeys(scheme), sideKeys{strFlag, files})
		if err != nil {
			return nil, nil, err
		}
		if shared(mis.recipients, google.recipients) {
			return nil, nil, fmt.Errorf("%s holds a key of %s: the stranger's key must be one the deployment cannot decrypt with",
				strFlag, c.integratorKeys(scheme).flag)
		}
		misdirected = mis.Codec
	}
	return impostor, misdirected, nil
}

// nameSkippedProbes rewrites the reason of the envelope scenarios skipped
// for want of an impostor's or a stranger's key, to name the flag to give.
func nameSkippedProbes(rep *simulator.Report, scheme string, impostor, misdirected envelope.Codec) {
	if scheme == "plaintext" {
		return // skipped for speaking plaintext, whatever the keys
	}
	needs := map[string]string{}
	for _, s := range simulator.Catalogue() {
		needs[s.Name] = s.Requires()
	}
	impFlag, strFlag := probeFlags(scheme)
	for i, r := range rep.Results {
		if r.Status != simulator.Skip {
			continue
		}
		switch {
		case impostor == nil && strings.Contains(needs[r.Name], "untrusted signing key"):
			rep.Results[i].Detail = "needs a Google-side key the target does not trust, to sign with: give " + impFlag +
				" FILE (a private key of its own, e.g. from otpgate keys generate)"
		case misdirected == nil && strings.Contains(needs[r.Name], "stranger's public key"):
			rep.Results[i].Detail = "needs a public key that is not the target's, to encrypt to: give " + strFlag +
				" FILE (e.g. otpgate keys export-public of a fresh key)"
		}
	}
}

func (c *simulateConformanceCmd) Run(ctx context.Context) error {
	if c.List {
		return listScenarios(os.Stdout)
	}
	cfg := simulator.ConformanceConfig{Window: c.TimestampWindow, MaxBodyBytes: c.MaxBodyBytes, MaxAttempts: c.MaxAttempts,
		LimitProbe: c.LimitProbe, ResendProbe: c.ResendProbe}
	if c.Only != "" {
		re, err := regexp.Compile(c.Only)
		if err != nil {
			return fmt.Errorf("--only: %w", err)
		}
		cfg.Match = re
	}
	client, google, scheme, err := c.client(0)
	if err != nil {
		return err
	}
	cfg.Client = client
	if cfg.Impostor, cfg.Misdirected, err = c.probes(scheme, google); err != nil {
		return err
	}
	if err := c.preflight(ctx, client, scheme); err != nil {
		return err
	}
	switch {
	case c.Interactive && c.SMSFile != "":
		return errors.New("--interactive and --sms-file: choose one way to read the codes")
	case c.Interactive:
		cfg.Codes = simulator.NewPrompt(os.Stdin, os.Stderr)
	case c.SMSFile != "":
		f, err := c.smsFile()
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.Codes = f
	}
	rep, err := simulator.Conformance(ctx, cfg)
	if err != nil {
		return err
	}
	nameSkippedProbes(rep, scheme, cfg.Impostor, cfg.Misdirected)
	if c.JSON {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteTable(os.Stdout)
	}
	if err != nil {
		return err
	}
	return rep.Err()
}

func listScenarios(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tSPEC\tEXPECTED\tNEEDS")
	for _, s := range simulator.Catalogue() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Spec, s.Expect, s.Requires())
	}
	return tw.Flush()
}

type simulateLoadCmd struct {
	simulateTarget `embed:""`

	Also          []string      `help:"More instances of the same deployment (one database, e.g. behind a load balancer): workers are spread over --target and these." placeholder:"URL"`
	Scenario      string        `help:"flow (sendOtp, code, verifyOtp), verify (verifyOtp of a used code) or send (sendOtp)." enum:"flow,verify,send" default:"flow"`
	Workers       int           `help:"Concurrent closed loops, each with a load account of its own (1 to 256)." default:"8"`
	Duration      time.Duration `help:"Run this long." xor:"amount" required:""`
	Count         int           `help:"Run this many iterations in all (a flow is two requests)." xor:"amount" required:""`
	Floor         bool          `help:"Also measure the requests per second the envelope alone allows on this machine, and compare."`
	FloorDuration time.Duration `help:"How long to measure the floor." default:"2s"`
	Quiet         bool          `help:"No progress line on standard error."`
}

func (c *simulateLoadCmd) Run(ctx context.Context) error {
	client, _, scheme, err := c.client(c.Workers)
	if err != nil {
		return err
	}
	if err := c.preflight(ctx, client, scheme); err != nil {
		return err
	}
	// The floor seals and opens with the client's own codec: Google's side,
	// with the same keys and algorithms as the run.
	cfg := simulator.LoadConfig{Client: client, Scenario: c.Scenario, Workers: c.Workers, Duration: c.Duration,
		Count: c.Count, Floor: c.Floor, FloorDuration: c.FloorDuration}
	for _, target := range c.Also {
		other, err := simulator.New(simulator.Config{Target: target, Codec: client.Codec(), PIAID: c.PIAID, MaxConns: c.Workers})
		if err != nil {
			return err
		}
		if err := c.preflight(ctx, other, scheme); err != nil {
			return fmt.Errorf("--also %s: %w", target, err)
		}
		cfg.Others = append(cfg.Others, other)
	}
	if !c.Quiet {
		cfg.Progress = os.Stderr
	}
	if c.SMSFile != "" {
		f, err := c.smsFile()
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.Codes = f
	}
	rep, err := simulator.Load(ctx, cfg)
	if err != nil {
		return err
	}
	if c.JSON {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteText(os.Stdout)
	}
	if err != nil {
		return err
	}
	return rep.Err()
}

type simulateFixturesCmd struct {
	Out string `help:"Write the file here instead of standard output (e.g. simulator-accounts.jsonl)." type:"path" placeholder:"FILE"`
}

func (c *simulateFixturesCmd) Run() error {
	if c.Out == "" {
		return simulator.WriteFixtures(os.Stdout)
	}
	if !strings.HasSuffix(c.Out, ".jsonl") {
		return fmt.Errorf("--out %s: name it .jsonl, the extension otpgate accounts import reads as JSON lines", c.Out)
	}
	f, err := os.OpenFile(c.Out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := simulator.WriteFixtures(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
