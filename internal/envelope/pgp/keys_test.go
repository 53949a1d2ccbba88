package pgp

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

func TestGenerateKey(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e, err := GenerateKey("otpgate test", "ops@otpgate.test", 2048, 48*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	rows := DescribeKeys([]*openpgp.Entity{e}, OwnerOurs, now.Add(time.Hour))
	if len(rows) != 2 {
		t.Fatalf("%d rows, want a primary key and one subkey: %+v", len(rows), rows)
	}
	expires := now.Add(48 * time.Hour)
	for i, want := range []struct{ usage string }{{"sign"}, {"encrypt"}} {
		r := rows[i]
		if r.Algorithm != "RSA-2048" || r.Usage != want.usage || !r.Created.Equal(now) || !r.Expires.Equal(expires) || !r.Active || r.Revoked {
			t.Errorf("row %d = %+v; want RSA-2048 %s created %v expiring %v, active", i, r, want.usage, now, expires)
		}
		if !r.ExpiringSoon {
			t.Errorf("row %d: a key expiring in two days is not expiring soon", i)
		}
	}
	if rows[0].UserID != "otpgate test <ops@otpgate.test>" {
		t.Errorf("user ID %q", rows[0].UserID)
	}
	// The subkey carries its own expiry, not only the primary's.
	sig := e.Subkeys[0].Bindings[0].Packet
	if sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs != 48*3600 {
		t.Errorf("subkey binding lifetime %v, want 48 h", sig.KeyLifetimeSecs)
	}
	self, err := e.PrimarySelfSignature(time.Time{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if self.PreferredHash[0] != hashID(crypto.SHA384) || self.PreferredSymmetric[0] != uint8(packet.CipherAES256) || self.SEIPDv2 {
		t.Errorf("preferences hash %v cipher %v AEAD %v; want SHA-384 and AES-256 first, no AEAD", self.PreferredHash, self.PreferredSymmetric, self.SEIPDv2)
	}
	// Past its lifetime the key is inactive.
	for _, r := range DescribeKeys([]*openpgp.Entity{e}, OwnerOurs, now.Add(49*time.Hour)) {
		if r.Active || r.ExpiringSoon {
			t.Errorf("expired row %+v is active or expiring", r)
		}
	}

	// GnuPG reads the same: sign+certify primary, encryption subkey, both
	// expiring after 48 h.
	g, err := newGPGHome()
	if err != nil {
		t.Skip(err)
	}
	pub, err := ArmorPublicKey(e)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := g.run(pub, "--with-colons", "--show-keys")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pub": "sc", "sub": "e"}
	seen := 0
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Split(l, ":")
		caps, ok := want[f[0]]
		if !ok {
			continue
		}
		seen++
		if f[2] != "2048" || f[3] != "1" || f[6] != strconv.FormatInt(expires.Unix(), 10) || f[11] != caps && f[11] != caps+strings.ToUpper(caps) {
			t.Errorf("gpg: %s", l)
		}
	}
	if seen != 2 {
		t.Errorf("gpg saw %d keys:\n%s", seen, out)
	}
}

func TestGenerateKeyRejects(t *testing.T) {
	for _, tc := range []struct {
		bits     int
		lifetime time.Duration
	}{{1024, 0}, {2047, 0}, {16384, 0}, {2048, -time.Hour}, {2048, time.Millisecond}} {
		if _, err := GenerateKey("x", "x@x.test", tc.bits, tc.lifetime, time.Time{}); err == nil {
			t.Errorf("GenerateKey(%d bits, %v) succeeded", tc.bits, tc.lifetime)
		}
	}
}

func TestGenerateKeyDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA-3072 generation is slow")
	}
	now := time.Now()
	e, err := GenerateKey("x", "x@x.test", 0, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range DescribeKeys([]*openpgp.Entity{e}, OwnerOurs, now) {
		if r.Algorithm != "RSA-3072" || r.Expires.Sub(r.Created) != 365*24*time.Hour {
			t.Errorf("row %+v, want RSA-3072 for a year", r)
		}
	}
}

func TestWritePrivateKey(t *testing.T) {
	f := fixtures(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "ours.asc")
	if err := WritePrivateKey(path, f.ourA); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %04o, want 0600", perm)
	}
	before, _ := os.ReadFile(path)
	if !bytes.HasPrefix(before, []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----")) {
		t.Errorf("not an armored private key: %.40q", before)
	}

	// Never overwrite.
	err = WritePrivateKey(path, f.ourB)
	if !errors.Is(err, os.ErrExist) {
		t.Errorf("second write: %v, want ErrExist", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the existing key file was changed")
	}

	// It loads back as the same key, usable as ours.
	ours, _, err := LoadKeys([]string{path}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ours) != 1 || !bytes.Equal(ours[0].PrimaryKey.Fingerprint, f.ourA.PrimaryKey.Fingerprint) {
		t.Fatalf("loaded %d keys", len(ours))
	}
	c := newCodec(t, ours, []*openpgp.Entity{f.gA}, nil)
	if _, err := c.Open(f.request(t, request, f.fprOurA, f.fprGA)); err != nil {
		t.Fatalf("reloaded key: %v", err)
	}
}

func TestArmorPublicKey(t *testing.T) {
	f := fixtures(t)
	pub, err := ArmorPublicKey(f.ourA)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pub, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		t.Fatalf("%.40q", pub)
	}
	es, err := ParseKeys(pub)
	if err != nil || len(es) != 1 {
		t.Fatalf("ParseKeys: %v, %d keys", err, len(es))
	}
	if es[0].PrivateKey != nil || es[0].Subkeys[0].PrivateKey != nil {
		t.Error("the public export holds secret material")
	}
}

func TestLoadKeys(t *testing.T) {
	f := fixtures(t)
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	secA, err := armorPrivate(f.ourA)
	if err != nil {
		t.Fatal(err)
	}
	secB, err := armorPrivate(f.ourB)
	if err != nil {
		t.Fatal(err)
	}
	var binary bytes.Buffer
	for _, e := range []*openpgp.Entity{f.ourA, f.ourB} {
		if err := e.SerializePrivateWithoutSigning(&binary, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Google's keys as gpg exports them: one armored block, two keys.
	googleBoth, _, err := f.gpg.run(nil, "--armor", "--export", f.fprGA, f.fprGB)
	if err != nil {
		t.Fatal(err)
	}
	googleBinary, _, err := f.gpg.run(nil, "--export", f.fprGA)
	if err != nil {
		t.Fatal(err)
	}

	ours, google, err := LoadKeys(
		[]string{write("two-blocks.asc", append(append(bytes.Clone(secA), "\n"...), secB...), 0o600), write("two.gpg", binary.Bytes(), 0o400)},
		[]string{write("google.asc", googleBoth, 0o644), write("google.gpg", googleBinary, 0o644)},
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(ours) != 4 || len(google) != 3 {
		t.Fatalf("loaded %d of ours and %d of Google's, want 4 and 3", len(ours), len(google))
	}
	// Duplicates are harmless: New keeps one of each.
	c := newCodec(t, ours, google, nil)
	if n := len(c.Keys()); n != 8 {
		t.Errorf("%d key rows, want 8 (2 keys × 2 per side)", n)
	}
	if _, err := c.Open(f.request(t, request, f.fprOurB, f.fprGB)); err != nil {
		t.Error(err)
	}

	// A passphrase-protected copy of our key A.
	locked, err := ParseKeys(secA)
	if err != nil {
		t.Fatal(err)
	}
	if err := locked[0].EncryptPrivateKeys([]byte("pw"), nil); err != nil {
		t.Fatal(err)
	}
	var lockedArmor bytes.Buffer
	if err := locked[0].SerializePrivateWithoutSigning(&lockedArmor, nil); err != nil {
		t.Fatal(err)
	}
	pubA, _ := ArmorPublicKey(f.ourA)

	for _, tc := range []struct {
		name         string
		ours, google []string
		want         []string // substrings of the error
	}{
		{"world-readable", []string{write("0644.asc", secA, 0o644)}, nil, []string{"0644.asc", "0644", "chmod 600"}},
		{"group-readable", []string{write("0640.asc", secA, 0o640)}, nil, []string{"0640.asc", "chmod 600"}},
		{"passphrase", []string{write("locked.gpg", lockedArmor.Bytes(), 0o600)}, nil, []string{"locked.gpg", "passphrase"}},
		{"public as ours", []string{write("pub.asc", pubA, 0o600)}, nil, []string{"pub.asc", "public key"}},
		{"private as Google's", nil, []string{write("sec.asc", secA, 0o600)}, []string{"sec.asc", "public keys only"}},
		{"garbage", nil, []string{write("junk", []byte("hello"), 0o644)}, []string{"junk"}},
		{"empty", nil, []string{write("empty", nil, 0o644)}, []string{"empty"}},
		{"message, not key", nil, []string{write("msg.asc", []byte("-----BEGIN PGP MESSAGE-----\n\nowE=\n=AAAA\n-----END PGP MESSAGE-----\n"), 0o644)}, []string{"msg.asc"}},
		{"missing", nil, []string{filepath.Join(dir, "nope")}, []string{"nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := LoadKeys(tc.ours, tc.google)
			if err == nil {
				t.Fatal("LoadKeys succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	f := fixtures(t)
	weak, err := openpgp.NewEntity("weak", "", "weak@x.test", &packet.Config{RSABits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	sha256Only, err := openpgp.NewEntity("sha256", "", "sha256@x.test", &packet.Config{RSABits: 2048, DefaultHash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	pubOurA := public(t, f.ourA)
	for _, tc := range []struct {
		name         string
		ours, google []*openpgp.Entity
		want         string
	}{
		{"no ours", nil, []*openpgp.Entity{f.gA}, "ours"},
		{"no Google's", []*openpgp.Entity{f.ourA}, nil, "Google"},
		{"public as ours", []*openpgp.Entity{pubOurA}, []*openpgp.Entity{f.gA}, "public key"},
		{"private as Google's", []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gAPriv}, "secret material"},
		{"both sides", []*openpgp.Entity{f.ourA}, []*openpgp.Entity{f.gA, pubOurA}, "both"},
		{"RSA-1024 ours", []*openpgp.Entity{weak}, []*openpgp.Entity{f.gA}, "1024 bits"},
		{"RSA-1024 Google's", []*openpgp.Entity{f.ourA}, []*openpgp.Entity{public(t, weak)}, "1024 bits"},
		{"no SHA-384", []*openpgp.Entity{sha256Only}, []*openpgp.Entity{f.gA}, "SHA-384"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.ours, tc.google, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	f := fixtures(t)
	ours := []*openpgp.Entity{f.ourA, f.ourShort}
	google := []*openpgp.Entity{f.gA, f.gRevoked}

	type row struct {
		owner, usage                   string
		active, soon, revoked, primary bool
	}
	check := func(now func() time.Time, want []row) {
		t.Helper()
		got := newCodec(t, ours, google, now).Keys()
		if len(got) != len(want) {
			t.Fatalf("%d rows, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			g := got[i]
			if g.Owner != w.owner || g.Usage != w.usage || g.Active != w.active || g.ExpiringSoon != w.soon || g.Revoked != w.revoked || g.Primary != w.primary {
				t.Errorf("row %d = %+v, want %+v", i, g, w)
			}
			if g.Algorithm != "RSA-2048" || len(g.KeyID) != 16 || len(g.Fingerprint) != 40 || !strings.HasSuffix(g.Fingerprint, g.KeyID) || g.Created.IsZero() || g.Expires.IsZero() {
				t.Errorf("row %d = %+v", i, g)
			}
		}
	}
	// Today: everything but the revoked key is active; our short key
	// (one day) is expiring soon.
	check(nil, []row{
		{OwnerOurs, "sign", true, false, false, true}, {OwnerOurs, "encrypt", true, false, false, false},
		{OwnerOurs, "sign", true, true, false, true}, {OwnerOurs, "encrypt", true, true, false, false},
		{OwnerGoogle, "sign", true, false, false, true}, {OwnerGoogle, "encrypt", true, false, false, false},
		{OwnerGoogle, "sign", false, false, true, true}, {OwnerGoogle, "encrypt", false, false, true, false},
	})
	// 340 days on: the short key is gone, Google's one-year key is
	// within 30 days of its end.
	check(at(340*24*time.Hour), []row{
		{OwnerOurs, "sign", true, false, false, true}, {OwnerOurs, "encrypt", true, false, false, false},
		{OwnerOurs, "sign", false, false, false, true}, {OwnerOurs, "encrypt", false, false, false, false},
		{OwnerGoogle, "sign", true, true, false, true}, {OwnerGoogle, "encrypt", true, true, false, false},
		{OwnerGoogle, "sign", false, false, true, true}, {OwnerGoogle, "encrypt", false, false, true, false},
	})

	rows := newCodec(t, ours, google, nil).Keys()
	if rows[0].Fingerprint != f.fprOurA || rows[1].PrimaryKeyID != rows[0].KeyID || rows[4].Fingerprint != f.fprGA {
		t.Errorf("identifiers: %+v", rows)
	}
	if want := f.ourA.PrimaryKey.CreationTime.Add(3 * 365 * 24 * time.Hour); !rows[0].Expires.Equal(want) {
		t.Errorf("expires %v, want %v", rows[0].Expires, want)
	}
}
