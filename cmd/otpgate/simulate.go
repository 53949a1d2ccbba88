package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
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
	Envelope          string        `help:"Message protection of the deployment: plaintext, pgp or jose (pgp and jose: not yet)." enum:"plaintext,pgp,jose," default:"" placeholder:"SCHEME"`
	InsecurePlaintext bool          `help:"Send and read plain JSON (--envelope plaintext), for a deployment run with --insecure-plaintext or --dev."`
	SMSFile           string        `name:"sms-file" help:"The deployment's SMS file sink (serve --sms-file), read for the codes it texts." type:"path" placeholder:"PATH"`
	CodeLength        int           `help:"Digits per code on the deployment (its --code-length); 0 takes any run of 6 to 10 digits." default:"0"`
	SMSTimeout        time.Duration `name:"sms-wait" help:"How long to wait for an SMS to appear in --sms-file." default:"10s"`
	JSON              bool          `name:"json" help:"Print the report as JSON, for machines."`
}

// googleSide is the envelope codec that plays Google.
func (t *simulateTarget) googleSide() (envelope.Codec, error) {
	scheme := t.Envelope
	if t.InsecurePlaintext {
		if scheme != "" && scheme != "plaintext" {
			return nil, fmt.Errorf("--insecure-plaintext and --envelope %s contradict each other", scheme)
		}
		scheme = "plaintext"
	}
	switch scheme {
	case "plaintext":
		return envelope.Plain{}, nil
	case "pgp", "jose":
		return nil, fmt.Errorf("--envelope %s: not yet: the simulator cannot load Google's side of %s keys yet "+
			"(a %s Codec built with Google's private key as ours and the deployment's public key as Google's); "+
			"until then only --insecure-plaintext targets can be simulated", scheme, scheme, scheme)
	default:
		return nil, errors.New("no envelope given: --insecure-plaintext for a deployment run with --insecure-plaintext or --dev " +
			"(--envelope pgp and jose are not supported yet)")
	}
}

func (t *simulateTarget) client(maxConns int) (*simulator.Client, error) {
	if t.Target == "" {
		return nil, errors.New("--target is required: the base URL of the deployment")
	}
	codec, err := t.googleSide()
	if err != nil {
		return nil, err
	}
	return simulator.New(simulator.Config{Target: t.Target, Codec: codec, PIAID: t.PIAID, MaxConns: maxConns})
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
	client, err := c.client(0)
	if err != nil {
		return err
	}
	cfg.Client = client
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

	Scenario      string        `help:"flow (sendOtp, code, verifyOtp), verify (verifyOtp of a used code) or send (sendOtp)." enum:"flow,verify,send" default:"flow"`
	Workers       int           `help:"Concurrent closed loops, each with a load account of its own (1 to 256)." default:"8"`
	Duration      time.Duration `help:"Run this long." xor:"amount" required:""`
	Count         int           `help:"Run this many iterations in all (a flow is two requests)." xor:"amount" required:""`
	Floor         bool          `help:"Also measure the requests per second the envelope alone allows on this machine, and compare."`
	FloorDuration time.Duration `help:"How long to measure the floor." default:"2s"`
	Quiet         bool          `help:"No progress line on standard error."`
}

func (c *simulateLoadCmd) Run(ctx context.Context) error {
	client, err := c.client(c.Workers)
	if err != nil {
		return err
	}
	cfg := simulator.LoadConfig{Client: client, Scenario: c.Scenario, Workers: c.Workers, Duration: c.Duration,
		Count: c.Count, Floor: c.Floor, FloorDuration: c.FloorDuration}
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
