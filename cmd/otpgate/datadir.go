package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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

// loadSecret reads an HMAC secret from path, or, when path is empty, from
// the file name in the data directory, generating it there on first use. A
// secret file that others can read is refused: with it and the database,
// codes and card numbers could be brute-forced offline.
func loadSecret(path, dataDir, name string) ([]byte, error) {
	generate := path == ""
	if generate {
		if err := ensureDataDir(dataDir); err != nil {
			return nil, err
		}
		path = filepath.Join(dataDir, name)
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) && generate {
		return generateSecret(path)
	}
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
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) < 32 {
		return nil, fmt.Errorf("secret %s must hold at least 32 bytes as hex (64 hex digits)", path)
	}
	return secret, nil
}

func generateSecret(path string) ([]byte, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("code secret: %w", err)
	}
	// O_EXCL: two processes starting at once must not write two secrets.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return loadSecret(path, "", "")
	}
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(secret) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("secret: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("secret: %w", err)
	}
	return secret, f.Close()
}

// cardHasher loads (or generates) the card secret and builds the hasher that
// both serve and accounts import look cards up by.
func cardHasher(path, dataDir string) (otp.CardHasher, error) {
	secret, err := loadSecret(path, dataDir, cardSecretFile)
	if err != nil {
		return otp.CardHasher{}, err
	}
	return otp.NewCardHasher(secret)
}
