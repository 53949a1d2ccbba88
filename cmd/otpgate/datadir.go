package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
)

const (
	databaseFile   = "otpgate.db"
	codeSecretFile = "code-secret"
	cardSecretFile = "card-secret"
)

// ensureDataDir creates the data directory, readable by its owner only.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
}

// loadKeyring reads a secrets file (see secrets.go) from path, or, when path
// is empty, the file name in the data directory, generating it there, with
// one secret, on first use.
func loadKeyring(path, dataDir, name string) (*otp.Keyring, error) {
	if path == "" {
		if err := ensureDataDir(dataDir); err != nil {
			return nil, err
		}
		path = filepath.Join(dataDir, name)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			if err := generateSecretsFile(path); err != nil {
				return nil, err
			}
		}
	}
	secrets, err := readSecretsFile(path)
	if err != nil {
		return nil, err
	}
	return otp.NewKeyring(secrets...)
}

// generateSecretsFile writes a secrets file of one new secret at path,
// unless one is there already.
func generateSecretsFile(path string) error {
	s, err := newSecret("", time.Now())
	if err != nil {
		return err
	}
	// O_EXCL: two processes starting at once must not write two files.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	return writeAndClose(f, formatSecret(s))
}

// cardHasher loads (or generates) the card secrets and builds the hasher
// that both serve and accounts import look cards up by.
func cardHasher(path, dataDir string) (otp.CardHasher, error) {
	keys, err := loadKeyring(path, dataDir, cardSecretFile)
	if err != nil {
		return otp.CardHasher{}, err
	}
	return otp.NewCardHasherOf(keys, nil), nil
}
