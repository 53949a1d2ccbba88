// Package hsm keeps otpgate's private keys in a hardware security module
// through PKCS#11: it names keys with RFC 7512 URIs, opens the token, finds
// or generates key pairs there, and hands out crypto.Signer (and, for RSA,
// crypto.Decrypter) values whose private halves never leave the token.
//
// Talking to a PKCS#11 module needs cgo, so the part that does is built only
// with the build tag pkcs11 (go build -tags pkcs11). Without it, Open fails
// with ErrNotBuilt, which says how to get a build that has it; URI parsing
// and the PIN and module rules below work in every build.
package hsm

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Scheme is what a key reference starts with when it names a key in a token.
const Scheme = "pkcs11:"

// Environment variables read when the URI does not say (the URI's own
// module-path and pin-source win). The PIN is never taken from a flag, so
// that it does not show in a process listing or a shell history.
const (
	EnvModule  = "OTPGATE_PKCS11_MODULE"   // path of the PKCS#11 module (.so)
	EnvPIN     = "OTPGATE_PKCS11_PIN"      // the user PIN itself
	EnvPINFile = "OTPGATE_PKCS11_PIN_FILE" // a file holding the user PIN
)

// IsURI reports whether a key reference names a key in a token rather than
// a file.
func IsURI(ref string) bool {
	return len(ref) >= len(Scheme) && strings.EqualFold(ref[:len(Scheme)], Scheme)
}

// URI is the part of an RFC 7512 PKCS#11 URI that otpgate uses.
type URI struct {
	Token  string // path attribute "token": the token label
	Serial string // path attribute "serial": the token serial number
	Object string // path attribute "object": CKA_LABEL of the key pair
	ID     []byte // path attribute "id": CKA_ID of the key pair

	ModulePath string // query attribute "module-path"
	PINSource  string // query attribute "pin-source": a file (or file: URI)
	// PublicKey is otpgate's query attribute "x-public-key": the file with
	// the public part (PGP public key block or JWK) of the key pair,
	// which `otpgate keys generate --pkcs11` writes beside the token.
	PublicKey string

	raw string
}

// String is the URI as given, with no secret in it (a URI with a PIN is
// refused by ParseURI).
func (u *URI) String() string { return u.raw }

// TokenName names the URI's token for a message: its label, quoted, or its
// serial number.
func (u *URI) TokenName() string {
	if u.Token != "" {
		return fmt.Sprintf("%q", u.Token)
	}
	return "serial " + u.Serial
}

// ParseURI parses a pkcs11: URI. It requires a token (by label or serial)
// and an object label or id, and refuses pin-value: a PIN in a URI ends up
// in process listings, shell histories and logs.
func ParseURI(s string) (*URI, error) {
	if !IsURI(s) {
		return nil, fmt.Errorf("hsm: %q is not a pkcs11: URI", s)
	}
	u := &URI{raw: s}
	rest := s[len(Scheme):]
	path, query, _ := strings.Cut(rest, "?")
	// Refuse a PIN before anything else: every later error quotes the URI.
	for attr := range strings.SplitSeq(query, "&") {
		if name, _, _ := strings.Cut(attr, "="); strings.EqualFold(name, "pin-value") {
			return nil, fmt.Errorf("hsm: a pkcs11: URI with pin-value: a PIN on the command line shows in process listings; use pin-source=FILE, %s or %s", EnvPINFile, EnvPIN)
		}
	}
	for attr := range strings.SplitSeq(path, ";") {
		if attr == "" {
			continue
		}
		name, value, err := splitAttr(attr)
		if err != nil {
			return nil, fmt.Errorf("hsm: %s: %w", s, err)
		}
		switch name {
		case "token":
			u.Token = value
		case "serial":
			u.Serial = value
		case "object":
			u.Object = value
		case "id":
			u.ID = []byte(value)
		case "type":
			if value != "private" {
				return nil, fmt.Errorf("hsm: %s: type=%s: otpgate needs the private key (type=private, or no type)", s, value)
			}
		case "manufacturer", "model", "library-description", "library-manufacturer", "library-version",
			"slot-description", "slot-manufacturer", "slot-id":
			return nil, fmt.Errorf("hsm: %s: path attribute %q is not supported; name the token by token= or serial=", s, name)
		default:
			return nil, fmt.Errorf("hsm: %s: unknown path attribute %q (RFC 7512)", s, name)
		}
	}
	if query != "" {
		for attr := range strings.SplitSeq(query, "&") {
			if attr == "" {
				continue
			}
			name, value, err := splitAttr(attr)
			if err != nil {
				return nil, fmt.Errorf("hsm: %s: %w", s, err)
			}
			switch name {
			case "module-path":
				u.ModulePath = value
			case "pin-source":
				u.PINSource = value
			case "x-public-key":
				u.PublicKey = value
			case "module-name":
				return nil, fmt.Errorf("hsm: %s: module-name is not supported; give the module's file with module-path= or %s", s, EnvModule)
			default:
				return nil, fmt.Errorf("hsm: %s: unknown query attribute %q (RFC 7512; otpgate adds x-public-key)", s, name)
			}
		}
	}
	switch {
	case u.Token == "" && u.Serial == "":
		return nil, fmt.Errorf("hsm: %s: name the token: token=LABEL or serial=NUMBER", s)
	case u.Token != "" && u.Serial != "":
		return nil, fmt.Errorf("hsm: %s: give token= or serial=, not both", s)
	case u.Object == "" && len(u.ID) == 0:
		return nil, fmt.Errorf("hsm: %s: name the key: object=LABEL and/or id=ID", s)
	}
	return u, nil
}

// splitAttr splits name=value and percent-decodes the value (RFC 7512
// §2.3: any byte may be written %XX; ';', '?', '&' and '%' must be).
func splitAttr(attr string) (name, value string, err error) {
	name, raw, ok := strings.Cut(attr, "=")
	if !ok || name == "" {
		return "", "", fmt.Errorf("attribute %q is not name=value", attr)
	}
	value, err = url.PathUnescape(raw)
	if err != nil {
		return "", "", fmt.Errorf("attribute %s: bad percent-encoding: %w", name, err)
	}
	return strings.ToLower(name), value, nil
}

// Module is the PKCS#11 module to load: the URI's module-path, else
// $OTPGATE_PKCS11_MODULE.
func (u *URI) Module(getenv func(string) string) (string, error) {
	if u.ModulePath != "" {
		return u.ModulePath, nil
	}
	if m := getenv(EnvModule); m != "" {
		return m, nil
	}
	return "", fmt.Errorf("hsm: %s: which PKCS#11 module? set %s (e.g. /usr/lib/softhsm/libsofthsm2.so) or add ?module-path=FILE to the URI", u, EnvModule)
}

// PIN is the token's user PIN: from the URI's pin-source file, else the file
// named by $OTPGATE_PKCS11_PIN_FILE, else $OTPGATE_PKCS11_PIN. A PIN file
// must not be readable by group or others, like a private key file. Errors
// never contain the PIN.
func (u *URI) PIN(getenv func(string) string) (string, error) {
	file := strings.TrimPrefix(u.PINSource, "file:")
	if file == "" {
		file = getenv(EnvPINFile)
	}
	if file != "" {
		return readPINFile(file)
	}
	if pin := getenv(EnvPIN); pin != "" {
		return pin, nil
	}
	return "", fmt.Errorf("hsm: %s: no PIN: set %s (a file of mode 0600) or %s, or add ?pin-source=FILE to the URI", u, EnvPINFile, EnvPIN)
}

func readPINFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hsm: PIN file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("hsm: PIN file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("hsm: PIN file %s has mode %04o: it must not be readable by group or others (chmod 600 %s)", path, perm, path)
	}
	buf := make([]byte, 257)
	n, _ := f.Read(buf)
	if n > 256 {
		return "", fmt.Errorf("hsm: PIN file %s: longer than 256 bytes, not a PIN", path)
	}
	pin := strings.TrimRight(string(buf[:n]), "\r\n")
	if pin == "" {
		return "", errors.New("hsm: PIN file " + path + " is empty")
	}
	return pin, nil
}
