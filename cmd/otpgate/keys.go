package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"text/tabwriter"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
	"github.com/otpgate/otpgate/internal/hsm"
)

// keysCmd manages the key files of the message protection (SPEC §5).
type keysCmd struct {
	Generate     keysGenerateCmd `cmd:"" help:"Make a new private key of ours in a new file (mode 0600)."`
	List         keysListCmd     `cmd:"" help:"List keys: id, algorithm, usage, expiry, and which are active now."`
	ExportPublic keysExportCmd   `cmd:"" name:"export-public" help:"Print the public part of our keys, to hand to Google."`
	Import       keysImportCmd   `cmd:"" help:"Check Google's public key file and copy it to --out."`
}

type keysGenerateCmd struct {
	Scheme   string        `help:"pgp or jose." enum:"pgp,jose" required:""`
	Out      string        `help:"File to write the private key to (with --pkcs11: the public key, which stays beside the token); never overwritten." type:"path" required:""`
	Bits     int           `help:"RSA key size (2048 to 4096)." default:"3072"`
	Lifetime time.Duration `help:"How long the key is valid." default:"8760h"`
	Name     string        `help:"PGP user id name." default:"otpgate"`
	Email    string        `help:"PGP user id e-mail." default:""`
	KID      string        `name:"kid" help:"JWK key id (default: jose-<date>; with --pkcs11, the object label)."`
	PKCS11   string        `name:"pkcs11" help:"Make the key pair(s) inside an HSM instead, sensitive and not extractable: a pkcs11: URI naming the token and the new object (pkcs11:token=LABEL;object=NAME). Module and PIN from OTPGATE_PKCS11_MODULE and OTPGATE_PKCS11_PIN_FILE (or OTPGATE_PKCS11_PIN). Needs a binary built with -tags pkcs11." placeholder:"URI"`
}

func (c *keysGenerateCmd) Run() error {
	now := time.Now()
	if c.Bits < 2048 || c.Bits > 4096 {
		return fmt.Errorf("--bits %d: Google requires RSA of at least 2048 bits; otpgate accepts up to 4096", c.Bits)
	}
	if c.PKCS11 != "" {
		return c.generateInToken(now)
	}
	var info []envelope.KeyInfo
	switch c.Scheme {
	case "pgp":
		e, err := pgp.GenerateKey(c.Name, c.Email, c.Bits, c.Lifetime, now)
		if err != nil {
			return err
		}
		if err := pgp.WritePrivateKey(c.Out, e); err != nil {
			return err
		}
		info = pgpKeyInfo(pgp.DescribeKeys([]*openpgp.Entity{e}, pgp.OwnerOurs, now))
	case "jose":
		kid := c.KID
		if kid == "" {
			kid = "jose-" + now.UTC().Format("20060102-150405")
		}
		k, err := jose.GenerateKey(kid, c.Bits, jose.UseBoth, c.Lifetime, now)
		if err != nil {
			return err
		}
		if err := jose.WritePrivateJWK(c.Out, k); err != nil {
			return err
		}
		info = joseKeyInfo((&jose.KeySet{Ours: []*jose.Key{k}}).Info(now))
	}
	fmt.Printf("wrote a new private %s key to %s (mode 0600)\n", c.Scheme, c.Out)
	printKeys(os.Stdout, info)
	fmt.Printf("\nGive Google its public part: otpgate keys export-public --scheme %s --key %s\n", c.Scheme, c.Out)
	return nil
}

type keysListCmd struct {
	Scheme    string   `help:"pgp or jose." enum:"pgp,jose" required:""`
	Key       []string `help:"Our private key file(s), or pkcs11: URIs of keys in an HSM." placeholder:"FILE|URI"`
	GoogleKey []string `name:"google-key" help:"Google's public key file(s)." type:"path"`
}

func (c *keysListCmd) Run() error {
	now := time.Now()
	tokens := hsm.NewTokens(os.Getenv)
	defer tokens.Close()
	var info []envelope.KeyInfo
	switch c.Scheme {
	case "pgp":
		ours, google, err := loadPGPKeys(tokens, c.Key, c.GoogleKey)
		if err != nil {
			return err
		}
		info = append(pgpKeyInfo(pgp.DescribeKeys(ours, pgp.OwnerOurs, now)),
			pgpKeyInfo(pgp.DescribeKeys(google, pgp.OwnerGoogle, now))...)
	case "jose":
		ks, err := loadJOSEKeys(tokens, c.Key, c.GoogleKey)
		if err != nil {
			return err
		}
		info = joseKeyInfo(ks.Info(now))
	}
	if len(info) == 0 {
		return errors.New("no keys: give --key and/or --google-key")
	}
	unknown := noExpiryKnown(c.Key)
	printKeysExpiry(os.Stdout, info, unknown)
	for _, k := range info {
		if unknown(k) {
			fmt.Fprintln(os.Stderr, "WARNING: "+noExpiryWarning(k.ID))
		}
	}
	return nil
}

type keysExportCmd struct {
	Scheme string   `help:"pgp or jose." enum:"pgp,jose" required:""`
	Key    []string `help:"Our private key file(s), or pkcs11: URIs of keys in an HSM." required:"" placeholder:"FILE|URI"`
}

func (c *keysExportCmd) Run() error {
	tokens := hsm.NewTokens(os.Getenv)
	defer tokens.Close()
	switch c.Scheme {
	case "pgp":
		ours, _, err := loadPGPKeys(tokens, c.Key, nil)
		if err != nil {
			return err
		}
		for _, e := range ours {
			b, err := pgp.ArmorPublicKey(e)
			if err != nil {
				return err
			}
			os.Stdout.Write(b)
		}
	case "jose":
		ks, err := loadJOSEKeys(tokens, c.Key, nil)
		if err != nil {
			return err
		}
		b, err := jose.PublicJWKS(ks.Ours...)
		if err != nil {
			return err
		}
		os.Stdout.Write(append(b, '\n'))
	}
	return nil
}

type keysImportCmd struct {
	Scheme string `help:"pgp or jose." enum:"pgp,jose" required:""`
	Out    string `help:"Where to keep Google's key (give it to serve with --pgp-google-key or --jose-google-key); never overwritten." type:"path" required:""`
	File   string `arg:"" help:"Google's public key file (armoured PGP, or a JWK or JWKS)." type:"existingfile"`
}

// Run refuses a file holding private material (one of our own keys given in
// the wrong place) and keys too weak for Google's rules.
func (c *keysImportCmd) Run() error {
	now := time.Now()
	var info []envelope.KeyInfo
	switch c.Scheme {
	case "pgp":
		es, err := pgp.ReadKeyFile(c.File, false)
		if err != nil {
			return err
		}
		info = pgpKeyInfo(pgp.DescribeKeys(es, pgp.OwnerGoogle, now))
	case "jose":
		ks, err := jose.LoadKeys(nil, []string{c.File})
		if err != nil {
			return err
		}
		info = joseKeyInfo(ks.Info(now))
	}
	data, err := os.ReadFile(c.File)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(c.Out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: keys are never overwritten; choose another --out", c.Out)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("imported Google's %s key(s) to %s\n", c.Scheme, c.Out)
	printKeys(os.Stdout, info)
	return nil
}

func printKeys(w io.Writer, keys []envelope.KeyInfo) {
	printKeysExpiry(w, keys, func(envelope.KeyInfo) bool { return false })
}

// printKeysExpiry is printKeys, with "unknown" rather than "never" as the
// expiry of the keys for which unknown is true (noExpiryKnown).
func printKeysExpiry(w io.Writer, keys []envelope.KeyInfo, unknown func(envelope.KeyInfo) bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OWNER\tID\tALGORITHM\tUSAGE\tEXPIRES\tSTATE")
	for _, k := range keys {
		expires := "never"
		switch {
		case unknown(k):
			expires = "unknown"
		case !k.Expires.IsZero():
			expires = k.Expires.UTC().Format("2006-01-02")
		}
		state := "inactive"
		switch {
		case k.ExpiringSoon:
			state = "active, expires within 30 days"
		case k.Active:
			state = "active"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.Owner, k.ID, k.Algorithm, k.Usage, expires, state)
	}
	tw.Flush()
}
