package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// checkFlag is serve's --check.
type checkFlag struct {
	Check bool `name:"check" help:"Check the configuration and exit: flags, keys, secrets files, SMS providers (their secrets, without connecting), routes and templates (India DLT matches included). Prints OK, or every problem found and exits 1."`
}

// runCheck checks what serve would use, without listening, connecting to a
// provider or the database, or creating any file, and reports every problem
// it finds.
func (c *serveCmd) runCheck() error {
	var errs []error
	scheme, err := c.scheme()
	if err != nil {
		errs = append(errs, err)
	}
	if c.Dev {
		c.InsecurePlaintext = scheme == ""
		if !c.smsGiven() {
			c.SMSFile = "-"
		}
	}
	switch {
	case err != nil:
	case c.InsecurePlaintext && scheme != "":
		errs = append(errs, errors.New("--insecure-plaintext and envelope keys exclude each other"))
	case !c.InsecurePlaintext && scheme == "":
		errs = append(errs, errors.New("no message protection is configured: give the PGP or JOSE keys, or --dev or --insecure-plaintext for local development"))
	case scheme != "":
		if _, _, err := c.codec(scheme, time.Now, c.MaxBodyBytes); err != nil {
			errs = append(errs, fmt.Errorf("%s keys: %w", scheme, err))
		}
	}
	if err := c.check(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.wire(); err != nil {
		errs = append(errs, err)
	}
	for _, f := range []string{c.CodeSecretFile, c.CardSecretFile} {
		if f != "" {
			if _, err := readSecretsFile(f); err != nil {
				errs = append(errs, err)
			}
		}
	}
	plan, err := c.planSMS()
	if err != nil {
		errs = append(errs, err)
	} else if err := plan.check(c); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		var b strings.Builder
		for _, e := range errs {
			for _, line := range strings.Split(e.Error(), "\n") {
				fmt.Fprintf(&b, "\n  %s", line)
			}
		}
		return fmt.Errorf("the configuration has %s:%s", plural(len(errs), "problem"), b.String())
	}
	fmt.Fprintln(os.Stdout, "otpgate: configuration OK")
	plan.describe(os.Stdout)
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// describe lists the providers and routes, as serve would use them.
func (p *smsPlan) describe(w io.Writer) {
	var names []string
	for _, pp := range p.providers {
		names = append(names, pp.name+" ("+pp.kind+")")
	}
	fmt.Fprintf(w, "SMS providers: %s\n", strings.Join(names, ", "))
	if len(p.routes) == 0 {
		fmt.Fprintln(w, "SMS routes: every number through every provider, in that order")
		return
	}
	keys := make([]string, 0, len(p.routes))
	for k := range p.routes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "SMS route %s: %s\n", k, strings.Join(p.routes[k], ", "))
	}
}
