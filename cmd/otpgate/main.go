// Command otpgate serves Google's OTP methods for a payment integrator: it
// texts one-time passwords to account holders and verifies them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/otpgate/otpgate/internal/sms"
)

// cli is the whole command line. Every flag also reads an OTPGATE_* variable,
// and --config names a JSON file that may set the same keys (flag names).
type cli struct {
	Config   kong.ConfigFlag `help:"JSON file of settings, keyed by flag name (e.g. {\"listen\": \"0.0.0.0:8080\"})." env:"OTPGATE_CONFIG" placeholder:"FILE"`
	Serve    serveCmd        `cmd:"" help:"Serve Google's OTP methods."`
	Doctor   doctorCmd       `cmd:"" help:"Check a deployment before a rollout, serving nothing: serve --check, with serve's flags."`
	Accounts struct {
		Import importCmd `cmd:"" help:"Load accounts into the directory from a .jsonl or .csv file."`
	} `cmd:"" help:"Manage the accounts directory."`
	Migrate  migrateCmd  `cmd:"" help:"Apply the database schema (serve does it too unless --no-migrate)."`
	Keys     keysCmd     `cmd:"" help:"Make, list, export and import the keys of the message protection."`
	Secrets  secretsCmd  `cmd:"" help:"Make the HMAC secrets of codes and cards, and rotate them."`
	Simulate simulateCmd `cmd:"" help:"Play Google against a deployment: conformance scenarios, load, fixture accounts."`
	Audit    auditCmd    `cmd:"" help:"Check the audit trail's hash chain."`
	Version  versionCmd  `cmd:"" help:"Print the version."`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var c cli
	parser, err := kong.New(&c,
		kong.Name("otpgate"),
		kong.Description("One-time passwords for Google Pay, served for a payment integrator."),
		kong.DefaultEnvars("OTPGATE"),
		kong.Configuration(configFile),
		kong.Vars{
			"sms_template": sms.DefaultTemplate,
			// A request's work is mostly RSA (the envelope) and a short
			// database write: 2 per core keep a core busy while one of them
			// waits on a commit, as fast as 4 per core or no bound, and
			// under overload a served request shares its core with one
			// other, not three: half the latency (docs/benchmarks.md, "Load
			// shedding").
			"max_in_flight": strconv.Itoa(2 * runtime.GOMAXPROCS(0)),
		},
		kong.BindTo(ctx, (*context.Context)(nil)),
	)
	if err != nil {
		panic(err) // the cli struct is wrong: a bug, not a user's mistake
	}
	k, err := parser.Parse(os.Args[1:])
	if err != nil {
		os.Exit(usageError(os.Stderr, err))
	}
	if err := k.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "otpgate:", err)
		os.Exit(1)
	}
}

// usageError prints a command-line mistake as the one line that matters and
// where to read more, not the whole help, and returns the exit status of a
// usage error, 2.
func usageError(w io.Writer, err error) int {
	path, summary := "otpgate", "otpgate <command> [flags]"
	var pe *kong.ParseError
	if errors.As(err, &pe) && pe.Context != nil {
		if n := pe.Context.Selected(); n != nil {
			path, summary = n.FullPath(), "otpgate "+strings.TrimSpace(n.Summary())
		}
	}
	fmt.Fprintf(w, "otpgate: %v\nusage: %s (run %q for the flags)\n", err, summary, path+" --help")
	return 2
}
