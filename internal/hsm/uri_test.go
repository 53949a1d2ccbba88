package hsm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	u, err := ParseURI("pkcs11:token=otp%20gate;object=pgp-2026;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/otpgate/pin&x-public-key=/etc/otpgate/pgp.asc")
	if err != nil {
		t.Fatal(err)
	}
	if u.Token != "otp gate" || u.Object != "pgp-2026" || string(u.ID) != "\x01\x02" ||
		u.ModulePath != "/usr/lib/softhsm/libsofthsm2.so" || u.PINSource != "file:/etc/otpgate/pin" || u.PublicKey != "/etc/otpgate/pgp.asc" {
		t.Fatalf("parsed %+v", u)
	}
	if !IsURI("PKCS11:token=a;object=b") || IsURI("/etc/otpgate/pkcs11:x") || IsURI("keys.asc") {
		t.Error("IsURI")
	}
	for _, tc := range []struct{ uri, want string }{
		{"pkcs11:object=k", "name the token"},
		{"pkcs11:token=t", "name the key"},
		{"pkcs11:token=t;serial=1;object=k", "not both"},
		{"pkcs11:token=t;object=k?pin-value=1234", "pin-source"},
		// Errors quote the URI: one with a PIN must not reach them.
		{"pkcs11:token=t;object=k;colour=red?PIN-VALUE=1234", "pin-source"},
		{"pkcs11:object=k?module-path=%zz&pin-value=1234", "pin-source"},
		{"pkcs11:token=t;object=k;colour=red", `unknown path attribute "colour"`},
		{"pkcs11:token=t;object=k?x-colour=red", `unknown query attribute "x-colour"`},
		{"pkcs11:token=t;object=k%zz", "percent-encoding"},
		{"pkcs11:token=t;object=k;type=cert", "type=private"},
		{"pkcs11:token=t;object", "not name=value"},
	} {
		_, err := ParseURI(tc.uri)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURI(%q) = %v, want an error with %q", tc.uri, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "1234") {
			t.Errorf("error shows the PIN: %v", err)
		}
	}
}

func TestModuleAndPIN(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	u, err := ParseURI("pkcs11:token=t;object=k")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Module(getenv); err == nil || !strings.Contains(err.Error(), EnvModule) {
		t.Errorf("no module: %v", err)
	}
	if _, err := u.PIN(getenv); err == nil || !strings.Contains(err.Error(), EnvPINFile) {
		t.Errorf("no PIN: %v", err)
	}
	env[EnvModule], env[EnvPIN] = "/lib/p11.so", "1111"
	if m, _ := u.Module(getenv); m != "/lib/p11.so" {
		t.Errorf("module %q", m)
	}
	if p, _ := u.PIN(getenv); p != "1111" {
		t.Error("PIN from the environment not read")
	}

	// A PIN file wins over the variable, and must be private.
	dir := t.TempDir()
	file := filepath.Join(dir, "pin")
	if err := os.WriteFile(file, []byte("2222\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env[EnvPINFile] = file
	if _, err := u.PIN(getenv); err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "2222") {
		t.Errorf("world-readable PIN file: %v", err)
	}
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := u.PIN(getenv); err != nil || p != "2222" {
		t.Errorf("PIN file: %v", err)
	}
	// The URI's own pin-source and module-path win over the environment.
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("3333"), 0o600); err != nil {
		t.Fatal(err)
	}
	u2, err := ParseURI("pkcs11:token=t;object=k?pin-source=file:" + other + "&module-path=/opt/p11.so")
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := u2.PIN(getenv); p != "3333" {
		t.Error("pin-source ignored")
	}
	if m, _ := u2.Module(getenv); m != "/opt/p11.so" {
		t.Error("module-path ignored")
	}
}
