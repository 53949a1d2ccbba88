package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

// A secrets file holds the HMAC secrets of one purpose (codes, or cards),
// one a line, oldest first:
//
//	ID HEX [ACTIVE_FROM]
//
// ID is 1 to 32 characters of [A-Za-z0-9._-], stored beside every hash the
// secret keys; HEX is the secret, at least 32 bytes; ACTIVE_FROM, optional,
// is an RFC 3339 time before which the secret only verifies. The newest
// active secret writes, every listed one verifies. Blank lines and lines
// that start with # are ignored. A line of HEX alone is the secret with the
// id "legacy": the single-hex files of earlier versions read as one secret,
// and the rows they keyed carry that id. The file must be the owner's alone
// (mode 0600).

// secretBytes is the size of a generated secret.
const secretBytes = 32

// parseSecrets reads a secrets file's content.
func parseSecrets(b []byte) ([]otp.Secret, error) {
	var secrets []otp.Secret
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSecretLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		secrets = append(secrets, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(secrets) == 0 {
		return nil, errors.New("no secret in it")
	}
	if _, err := otp.NewKeyring(secrets...); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "otp: "))
	}
	return secrets, nil
}

func parseSecretLine(line string) (otp.Secret, error) {
	fields := strings.Fields(line)
	if len(fields) == 1 {
		fields = []string{otp.LegacySecretID, fields[0]}
	}
	if len(fields) > 3 {
		return otp.Secret{}, errors.New("want ID HEX [ACTIVE_FROM]")
	}
	s := otp.Secret{ID: fields[0]}
	if err := otp.CheckSecretID(s.ID); err != nil {
		return otp.Secret{}, errors.New(strings.TrimPrefix(err.Error(), "otp: "))
	}
	key, err := hex.DecodeString(fields[1])
	if err != nil || len(key) < 32 {
		// The hex is never echoed: it is the secret.
		return otp.Secret{}, fmt.Errorf("secret %s: want at least 32 bytes as hex (64 hex digits)", s.ID)
	}
	s.Key = key
	if len(fields) == 3 {
		if s.ActiveFrom, err = time.Parse(time.RFC3339, fields[2]); err != nil {
			return otp.Secret{}, fmt.Errorf("secret %s: active-from %q: want an RFC 3339 time such as 2026-03-15T10:00:00Z", s.ID, fields[2])
		}
	}
	return s, nil
}

// formatSecret is the line of a secret in a secrets file.
func formatSecret(s otp.Secret) string {
	line := s.ID + " " + hex.EncodeToString(s.Key)
	if !s.ActiveFrom.IsZero() {
		line += " " + s.ActiveFrom.UTC().Format(time.RFC3339)
	}
	return line + "\n"
}

// newSecret draws a secret with the given id, or a new one: the day and
// random digits, so that ids sort roughly by age and never repeat.
func newSecret(id string, now time.Time) (otp.Secret, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return otp.Secret{}, fmt.Errorf("secret: %w", err)
	}
	if id == "" {
		suffix := make([]byte, 3)
		if _, err := rand.Read(suffix); err != nil {
			return otp.Secret{}, fmt.Errorf("secret: %w", err)
		}
		id = now.UTC().Format("20060102") + "-" + hex.EncodeToString(suffix)
	}
	if err := otp.CheckSecretID(id); err != nil {
		return otp.Secret{}, errors.New(strings.TrimPrefix(err.Error(), "otp: "))
	}
	return otp.Secret{ID: id, Key: key}, nil
}

// readSecretsFile reads and checks a secrets file, refusing one that others
// can read: with it and the database, codes and card numbers could be
// brute-forced offline.
func readSecretsFile(path string) ([]otp.Secret, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret %s has permissions %04o; it must be readable by its owner only (chmod 600 %s)",
			path, info.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	secrets, err := parseSecrets(b)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", path, err)
	}
	return secrets, nil
}

// appendSecret adds s to the secrets file at path as its newest secret,
// creating the file (mode 0600) when there is none.
func appendSecret(path string, s otp.Secret) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return appendToExisting(path, s)
	}
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	return writeAndClose(f, formatSecret(s))
}

func appendToExisting(path string, s otp.Secret) error {
	secrets, err := readSecretsFile(path)
	if err != nil {
		return err
	}
	if _, err := otp.NewKeyring(append(secrets, s)...); err != nil {
		return fmt.Errorf("secret %s: %s", path, strings.TrimPrefix(err.Error(), "otp: "))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	line := formatSecret(s)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		line = "\n" + line // a single-hex file may end without one
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	return writeAndClose(f, line)
}

func writeAndClose(f *os.File, text string) error {
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("secret: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	return nil
}

type secretsCmd struct {
	Generate secretsGenerateCmd `cmd:"" help:"Add a new secret to a secrets file (--code-secret-file, --card-secret-file), creating the file if needed."`
}

type secretsGenerateCmd struct {
	Out      string        `required:"" help:"The secrets file; created with mode 0600 if missing. The new secret is its newest: it writes once serve (and accounts import) read the file again, and the older ones still verify." type:"path" placeholder:"FILE"`
	ID       string        `name:"id" help:"Id of the new secret, 1–32 of [A-Za-z0-9._-] (default: today's date and random digits)."`
	ActiveIn time.Duration `help:"Let the new secret only verify for this long before it writes, so that every instance can be restarted onto the file before any writes with it (several instances on one database)." placeholder:"DURATION"`
}

func (c *secretsGenerateCmd) Run(_ context.Context) error {
	if c.ActiveIn < 0 {
		return fmt.Errorf("--active-in %s: 0 or more", c.ActiveIn)
	}
	now := time.Now()
	s, err := newSecret(c.ID, now)
	if err != nil {
		return fmt.Errorf("--id: %w", err)
	}
	if c.ActiveIn > 0 {
		s.ActiveFrom = now.Add(c.ActiveIn).Truncate(time.Second)
	}
	if err := appendSecret(c.Out, s); err != nil {
		return err
	}
	when := "writes from the next start of serve"
	if !s.ActiveFrom.IsZero() {
		when = "writes from " + s.ActiveFrom.UTC().Format(time.RFC3339) + " (verifies from the next start)"
	}
	fmt.Printf("added secret %s to %s: it %s; the older secrets still verify\n", s.ID, c.Out, when)
	return nil
}
