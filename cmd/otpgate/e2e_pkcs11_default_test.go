//go:build !pkcs11

package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2EWithoutPKCS11: the default (pure Go) binary, given a key in an
// HSM, says that it was built without PKCS#11 and how to build one with it.
func TestE2EWithoutPKCS11(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	uri := "pkcs11:token=bank;object=otpgate?x-public-key=" + filepath.Join(dir, "ours.pub.asc")
	for _, args := range [][]string{
		{"serve", "--data-dir", filepath.Join(dir, "data"), "--sms-file", filepath.Join(dir, "sms.jsonl"),
			"--pgp-key", uri, "--pgp-google-key", filepath.Join(dir, "google.asc")},
		{"keys", "list", "--scheme", "jose", "--key", uri},
		{"keys", "generate", "--scheme", "pgp", "--pkcs11", "pkcs11:token=bank;object=new", "--out", filepath.Join(dir, "new.asc")},
	} {
		code, _, stderr := e2eRun(t, 30*time.Second, e2eEnv("OTPGATE_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so", "OTPGATE_PKCS11_PIN=1234"), args...)
		if code == 0 || !strings.Contains(stderr, "built without PKCS#11") || !strings.Contains(stderr, "-tags pkcs11") {
			t.Errorf("otpgate %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
		}
	}
}
