package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/simulator"
)

// simulateCmd plays Google against a deployment: `otpgate simulate
// conformance`, `otpgate simulate load` and `otpgate simulate fixtures`.
type simulateCmd struct {
	Conformance simulateConformanceCmd `cmd:"" help:"Run every scenario of the wire contract against a deployment and print what passed."`
	Load        simulateLoadCmd        `cmd:"" help:"Measure a deployment under closed-loop load, or open-loop with --rate (and, with --floor, against what its envelope allows)."`
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

// keyFiles are the key flags, for the simulator to build Google's side
// from; probes are the impostor's and the stranger's, conformance's only.
func (t *simulateTarget) keyFiles(probes *simulateProbeFlags) simulator.KeyFiles {
	k := simulator.KeyFiles{Envelope: t.Envelope, InsecurePlaintext: t.InsecurePlaintext,
		PGP:         simulator.SchemeKeyFiles{Google: t.GooglePGPKey, Integrator: t.IntegratorPGPKey},
		JOSE:        simulator.SchemeKeyFiles{Google: t.GoogleJOSEKey, Integrator: t.IntegratorJOSEKey},
		JOSEOptions: t.options(nil)}
	if probes != nil {
		k.PGP.Impostor, k.PGP.Stranger = probes.ImpostorPGPKey, probes.StrangerPGPKey
		k.JOSE.Impostor, k.JOSE.Stranger = probes.ImpostorJOSEKey, probes.StrangerJOSEKey
	}
	return k
}

// client builds Google's side of the envelope and the client that plays
// Google against the target with it.
func (t *simulateTarget) client(probes *simulateProbeFlags, maxConns int) (*simulator.Client, *simulator.GoogleSide, error) {
	if t.Target == "" {
		return nil, nil, errors.New("--target is required: the base URL of the deployment")
	}
	side, err := t.keyFiles(probes).GoogleSide()
	if err != nil {
		return nil, nil, err
	}
	c, err := side.Client(t.Target, t.PIAID, maxConns)
	if err != nil {
		return nil, nil, err
	}
	return c, side, nil
}

func (t *simulateTarget) smsFile() (*simulator.SMSFile, error) {
	return simulator.OpenSMSFile(t.SMSFile, simulator.SMSFileOptions{CodeLength: t.CodeLength, Timeout: t.SMSTimeout})
}

// simulateProbeFlags are the keys of the envelope scenarios' two wrong
// Googles.
type simulateProbeFlags struct {
	ImpostorPGPKey  []string `name:"impostor-pgp-key" help:"A PGP PRIVATE key file (mode 0600) the deployment does not trust as Google's (a fresh otpgate keys generate): signs the request of envelope/bad-signature. Repeatable." type:"path" placeholder:"FILE"`
	StrangerPGPKey  []string `name:"stranger-pgp-key" help:"A PGP PUBLIC key file that is not the deployment's: envelope/wrong-encryption-key encrypts its request to it. Repeatable." type:"path" placeholder:"FILE"`
	ImpostorJOSEKey []string `name:"impostor-jose-key" help:"A private JWK or JWKS file (mode 0600) the deployment does not trust as Google's: signs the request of envelope/bad-signature. Repeatable." type:"path" placeholder:"FILE"`
	StrangerJOSEKey []string `name:"stranger-jose-key" help:"A public JWK or JWKS file that is not the deployment's: envelope/wrong-encryption-key encrypts its request to it. Repeatable." type:"path" placeholder:"FILE"`
}

type simulateConformanceCmd struct {
	simulateTarget     `embed:""`
	simulateProbeFlags `embed:""`

	Surfaces        []string      `help:"The Google APIs the deployment serves (its --surfaces), comma-separated: standard, e-wallets, korea-e-wallets, india-cards. The scenarios of the others are skipped, and their paths must answer 404." default:"standard,e-wallets,korea-e-wallets,india-cards" enum:"standard,e-wallets,korea-e-wallets,india-cards" placeholder:"SURFACE"`
	Interactive     bool          `help:"Ask for each code on standard input (an operator reads the phone) instead of reading --sms-file."`
	TimestampWindow time.Duration `help:"The deployment's --timestamp-window." default:"60s"`
	MaxBodyBytes    int64         `help:"The deployment's --max-body-bytes." default:"65536"`
	MaxAttempts     int           `help:"The deployment's --max-attempts." default:"5"`
	LimitProbe      int           `help:"Most SUCCESS sends the OTP_LIMIT_REACHED scenario makes before it fails: the deployment's --send-limit must allow fewer per window." default:"25"`
	ResendProbe     int           `help:"Most successful resendOtp the resend-limit scenario makes before it fails: the deployment's --max-resends must be lower." default:"10"`
	Only            string        `help:"Run only the scenarios whose name matches this regular expression (e.g. '^cards/', 'e-wallets: ')." placeholder:"REGEXP"`
	List            bool          `help:"List the scenarios and exit."`
}

func (c *simulateConformanceCmd) Run(ctx context.Context) error {
	if c.List {
		return simulator.WriteCatalogue(os.Stdout)
	}
	cfg := simulator.ConformanceConfig{Window: c.TimestampWindow, MaxBodyBytes: c.MaxBodyBytes, MaxAttempts: c.MaxAttempts,
		LimitProbe: c.LimitProbe, ResendProbe: c.ResendProbe, Surfaces: c.Surfaces}
	if c.Only != "" {
		re, err := regexp.Compile(c.Only)
		if err != nil {
			return fmt.Errorf("--only: %w", err)
		}
		cfg.Match = re
	}
	client, side, err := c.client(&c.simulateProbeFlags, 0)
	if err != nil {
		return err
	}
	cfg.Client = client
	if err := side.Probes(); err != nil {
		return err
	}
	cfg.Impostor, cfg.Misdirected = side.Impostor, side.Misdirected
	if err := side.Preflight(ctx, client, c.Surfaces); err != nil {
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
	side.ExplainSkips(rep)
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

type simulateLoadCmd struct {
	simulateTarget `embed:""`

	Also          []string      `help:"More instances of the same deployment (one database, e.g. behind a load balancer): workers are spread over --target and these." placeholder:"URL"`
	Scenario      string        `help:"flow (sendOtp, code, verifyOtp), verify (verifyOtp of a used code) or send (sendOtp)." enum:"flow,verify,send" default:"flow"`
	Workers       int           `help:"Concurrent closed loops, each with a load account of its own (1 to 256); with --rate, the most requests outstanding at once." default:"8"`
	Rate          float64       `help:"Open loop: start this many iterations per second whatever the answers' latency, as Google's traffic arrives (0: closed loops). Give --workers enough for the target's latency times the rate; arrivals that find every worker busy are reported as not sent." default:"0"`
	Duration      time.Duration `help:"Run this long." xor:"amount" required:""`
	Count         int           `help:"Run this many iterations in all (a flow is two requests)." xor:"amount" required:""`
	Floor         bool          `help:"Also measure the requests per second the envelope alone allows on this machine, and compare."`
	FloorDuration time.Duration `help:"How long to measure the floor." default:"2s"`
	Quiet         bool          `help:"No progress line on standard error."`
}

func (c *simulateLoadCmd) Run(ctx context.Context) error {
	client, side, err := c.client(nil, c.Workers)
	if err != nil {
		return err
	}
	if err := side.Preflight(ctx, client, nil); err != nil {
		return err
	}
	// The floor seals and opens with the client's own codec: Google's side,
	// with the same keys and algorithms as the run.
	if c.Rate < 0 {
		return fmt.Errorf("--rate %g: 0 or more", c.Rate)
	}
	cfg := simulator.LoadConfig{Client: client, Scenario: c.Scenario, Workers: c.Workers, Rate: c.Rate, Duration: c.Duration,
		Count: c.Count, Floor: c.Floor, FloorDuration: c.FloorDuration}
	for _, target := range c.Also {
		other, err := side.Client(target, c.PIAID, c.Workers)
		if err != nil {
			return err
		}
		if err := side.Preflight(ctx, other, nil); err != nil {
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
