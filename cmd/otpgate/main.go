// Command otpgate serves Google's OTP methods for a payment integrator: it
// texts one-time passwords to account holders and verifies them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/otpgate/otpgate/internal/sms"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

// cli is the whole command line. Every flag also reads an OTPGATE_* variable,
// and --config names a JSON file that may set the same keys (flag names).
type cli struct {
	Config   kong.ConfigFlag `help:"JSON file of settings, keyed by flag name (e.g. {\"listen\": \"0.0.0.0:8080\"})." env:"OTPGATE_CONFIG" placeholder:"FILE"`
	Serve    serveCmd        `cmd:"" help:"Serve Google's OTP methods."`
	Accounts struct {
		Import importCmd `cmd:"" help:"Load accounts into the directory from a .jsonl or .csv file."`
	} `cmd:"" help:"Manage the accounts directory."`
	Migrate  migrateCmd  `cmd:"" help:"Apply the database schema (serve does it too unless --no-migrate)."`
	Keys     keysCmd     `cmd:"" help:"Make, list, export and import the keys of the message protection."`
	Simulate simulateCmd `cmd:"" help:"Play Google against a deployment: conformance scenarios, load, fixture accounts."`
	Version  versionCmd  `cmd:"" help:"Print the version."`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var c cli
	k := kong.Parse(&c,
		kong.Name("otpgate"),
		kong.Description("One-time passwords for Google Pay, served for a payment integrator."),
		kong.DefaultEnvars("OTPGATE"),
		kong.Configuration(configFile),
		kong.UsageOnError(),
		kong.Vars{"sms_template": sms.DefaultTemplate},
		kong.BindTo(ctx, (*context.Context)(nil)),
	)
	if err := k.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "otpgate:", err)
		os.Exit(1)
	}
}

type versionCmd struct{}

func (versionCmd) Run() error {
	fmt.Println("otpgate", versionString())
	return nil
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
