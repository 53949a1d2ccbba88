package pgp

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
)

// limitKeys are Go-made keys for the tests of bounded work, which need no
// GnuPG: two keys of ours whose RSA decryptions are counted, and Google's.
type limitKeys struct {
	ourA, ourB     *openpgp.Entity // private, counting
	rsaA, rsaB     *atomic.Int64
	google         *openpgp.Entity // private
	googlePublic   *openpgp.Entity
	ourAID, ourBID uint64 // their encryption subkeys' IDs
}

var (
	limitOnce sync.Once
	limitFix  *limitKeys
	limitErr  error
)

func limits(t testing.TB) *limitKeys {
	t.Helper()
	limitOnce.Do(func() {
		k := &limitKeys{rsaA: new(atomic.Int64), rsaB: new(atomic.Int64)}
		for _, dst := range []**openpgp.Entity{&k.ourA, &k.ourB, &k.google} {
			if *dst, limitErr = GenerateKey("limits", "limits@otpgate.test", 2048, 0, time.Time{}); limitErr != nil {
				return
			}
		}
		limitFix = k
	})
	if limitErr != nil {
		t.Fatal(limitErr)
	}
	k := limitFix
	if k.googlePublic == nil {
		countDecryptions(t, k.ourA, k.rsaA)
		countDecryptions(t, k.ourB, k.rsaB)
		k.googlePublic = public(t, k.google)
		k.ourAID, k.ourBID = encryptionKey(t, k.ourA).KeyId, encryptionKey(t, k.ourB).KeyId
	}
	return k
}

// codec is our server with the given keys of ours.
func (k *limitKeys) codec(t testing.TB, opts Options, ours ...*openpgp.Entity) *Codec {
	t.Helper()
	c, err := New(ours, []*openpgp.Entity{k.googlePublic}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// request is a well-formed request from Google to ourA.
func (k *limitKeys) request(t testing.TB) []byte {
	t.Helper()
	return encrypted(t, signed(t, []*openpgp.Entity{k.google}, request), []*openpgp.Entity{k.ourA})
}

func repeat(p []byte, n int) []byte { return bytes.Repeat(p, n) }

// TestOpenBoundsRSAWork: whatever session-key packets a body holds, Open
// makes at most one RSA decryption per key of ours, and none for bodies the
// packet structure already condemns. (Before the pre-scan, 120 packets for
// our key ID or for a hidden recipient cost 120 decryptions.)
func TestOpenBoundsRSAWork(t *testing.T) {
	k := limits(t)
	stranger := func(i int) []byte { return fakePKESK(0x5742A26E00000000 + uint64(i)) }
	good := k.request(t)
	dataOnly := encrypted(t, signed(t, []*openpgp.Entity{k.google}, request), nil) // no session key at all

	var hidden bytes.Buffer
	key := sessionKey(t, packet.CipherAES256)
	if err := packet.SerializeEncryptedKeyAEADwithHiddenOption(&hidden, encryptionKey(t, k.ourA), packet.CipherAES256, false, key, true, nil); err != nil {
		t.Fatal(err)
	}
	hiddenRequest := append(hidden.Bytes(), seipd(t, packet.CipherAES256, 0, key, signed(t, []*openpgp.Entity{k.google}, request))...)

	und := envelope.ErrUndecryptable
	cases := []struct {
		name     string
		body     []byte
		ours     []*openpgp.Entity
		hidden   bool
		want     error
		maxRSA   int64
		mentions string
	}{
		{"Google's request", good, nil, false, nil, 1, ""},
		{"120 session keys for our key", append(repeat(fakePKESK(k.ourAID), 120), good...), nil, false, und, 0, "two session-key packets"},
		{"120 session keys for strangers", append(repeat(stranger(0), 120), good...), nil, false, und, 0, "more than 4 session-key packets"},
		{"120 hidden recipients", append(repeat(fakePKESK(0), 120), dataOnly...), nil, false, und, 0, "hidden recipient"},
		{"120 hidden recipients, two keys of ours", append(repeat(fakePKESK(0), 120), dataOnly...), []*openpgp.Entity{k.ourA, k.ourB}, false, und, 0, "hidden recipient"},
		{"120 hidden recipients where hidden ones are accepted", append(repeat(fakePKESK(0), 120), dataOnly...), nil, true, und, 0, "more than one hidden recipient"},
		{"a hidden recipient where accepted", hiddenRequest, nil, true, nil, 1, ""},
		{"a hidden recipient", hiddenRequest, nil, false, und, 0, "hidden recipient"},
		{"hidden and named, the same key tried once", append(fakePKESK(0), encrypted(t, signed(t, []*openpgp.Entity{k.google}, request), nil, fakePKESK(k.ourAID))...), nil, true, und, 1, "does not decrypt"},
		{"a second session key for our key", append(fakePKESK(k.ourAID), good...), nil, false, und, 0, "two session-key packets"},
		{"garbage for our key among strangers", encrypted(t, signed(t, []*openpgp.Entity{k.google}, request), nil, stranger(1), fakePKESK(k.ourAID), stranger(2), stranger(3)), nil, false, und, 1, "does not decrypt"},
		{"three strangers and us", append(append(stranger(1), stranger(2)...), append(stranger(3), good...)...), nil, false, nil, 1, ""},
		{"four strangers and us", append(append(stranger(1), stranger(2)...), append(append(stranger(3), stranger(4)...), good...)...), nil, false, und, 0, "more than 4"},
		{"garbage for each of two keys of ours", encrypted(t, signed(t, []*openpgp.Entity{k.google}, request), nil, fakePKESK(k.ourAID), fakePKESK(k.ourBID)), []*openpgp.Entity{k.ourA, k.ourB}, false, und, 2, "does not decrypt"},
		{"for strangers only", encrypted(t, signed(t, []*openpgp.Entity{k.google}, request), nil, stranger(1), stranger(2)), nil, false, und, 0, "none of them an active key of ours"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ours := tc.ours
			if ours == nil {
				ours = []*openpgp.Entity{k.ourA}
			}
			c := k.codec(t, Options{HiddenRecipients: tc.hidden}, ours...)
			k.rsaA.Store(0)
			k.rsaB.Store(0)
			got, err := c.Open(b64(tc.body, true))
			rsa := k.rsaA.Load() + k.rsaB.Load()
			t.Logf("%d RSA decryptions; %v", rsa, err)
			switch {
			case tc.want == nil && (err != nil || !bytes.Equal(got, request)):
				t.Fatalf("Open: %v", err)
			case tc.want != nil:
				wantErr(t, err, tc.want)
				if !strings.Contains(err.Error(), tc.mentions) {
					t.Errorf("error %q does not mention %q", err, tc.mentions)
				}
			}
			if rsa > tc.maxRSA {
				t.Errorf("%d RSA decryptions, want at most %d", rsa, tc.maxRSA)
			}
		})
	}
}

// TestOpenListsFewRecipients: the error that names the keys a body was
// encrypted to (for operators, in the log) lists five and counts the rest.
func TestOpenListsFewRecipients(t *testing.T) {
	var eks []*packet.EncryptedKey
	for i := range 120 {
		eks = append(eks, &packet.EncryptedKey{KeyId: uint64(0x1000 + i)})
	}
	msg := (&Codec{}).notForUs(eks).Error()
	if strings.Count(msg, "00000000000010") != 5 || !strings.Contains(msg, "and 115 more") {
		t.Errorf("error = %q, want 5 key IDs and 115 more", msg)
	}
	t.Log(msg)
}

// TestOpenRefusesStructure: what a sender who can encrypt to us (our public
// key is no secret) may put inside, each refused before the work it asks
// for.
func TestOpenRefusesStructure(t *testing.T) {
	k := limits(t)
	c := k.codec(t, Options{}, k.ourA)
	g := []*openpgp.Entity{k.google}
	to := []*openpgp.Entity{k.ourA}
	marker := []byte{0xC0 | tagMarker, 3, 'P', 'G', 'P'}
	unknown := []byte{0xC0 | 60, 3, 1, 2, 3} // a non-critical unknown packet type

	und, bad := envelope.ErrUndecryptable, envelope.ErrBadSignature
	cases := []struct {
		name     string
		body     []byte
		want     error
		mentions string
	}{
		{"control", encrypted(t, signed(t, g, request), to), nil, ""},
		{"control, compressed", encrypted(t, compressed(t, packet.CompressionZLIB, signed(t, g, request)), to), nil, ""},
		{"four signatures", encrypted(t, signed(t, []*openpgp.Entity{k.google, k.google, k.google, k.google}, request), to), nil, ""},
		{"five signatures", encrypted(t, signed(t, []*openpgp.Entity{k.google, k.google, k.google, k.google, k.google}, request), to), bad, "more than 4 signatures"},
		{"compressed twice", encrypted(t, compressed(t, packet.CompressionZLIB, compressed(t, packet.CompressionZIP, signed(t, g, request))), to), und, "compressed data inside compressed data"},
		{"compressed, expanding past 64 KiB", encrypted(t, compressed(t, packet.CompressionZLIB, signed(t, g, make([]byte, 200<<10))), to), und, "expands beyond 65536 bytes"},
		{"BZIP2", encrypted(t, append([]byte{0xC0 | tagCompressed, 5, 3}, "BZh9"...), to), und, "compressed with BZIP2"},
		{"a marker packet first", append(marker, encrypted(t, signed(t, g, request), to)...), und, "marker packet"},
		{"a packet of an unknown type inside", encrypted(t, append(signed(t, g, request), unknown...), to), und, "unknown type 60"},
		{"a marker packet inside", encrypted(t, append(marker, signed(t, g, request)...), to), und, "marker packet"},
		{"two literal packets", encrypted(t, append(signed(t, g, request), signed(t, g, request)...), to), und, "more than one literal"},
		{"plain literal data", signed(t, g, request), und, "not encrypted"},
		{"data after the message", append(encrypted(t, signed(t, g, request), to), marker...), und, "after the OpenPGP message"},
		{"truncated encrypted data", encrypted(t, signed(t, g, request), to)[:600], und, "truncated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Open(b64(tc.body, true))
			if tc.want == nil {
				if err != nil || !bytes.Equal(got, request) {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			wantErr(t, err, tc.want)
			if !strings.Contains(err.Error(), tc.mentions) {
				t.Errorf("error %q does not mention %q", err, tc.mentions)
			}
			t.Log(err)
		})
	}
}

// TestOpenAEAD: SEIPD v2 opens in every mode with every AES size by
// default, and is refused, before any RSA work, where its mode or cipher is
// not accepted.
func TestOpenAEAD(t *testing.T) {
	k := limits(t)
	inner := signed(t, []*openpgp.Entity{k.google}, request)
	v2 := func(cipher packet.CipherFunction, mode packet.AEADMode) []byte {
		key := sessionKey(t, cipher)
		return b64(append(pkesk(t, encryptionKey(t, k.ourA), cipher, true, key), seipd(t, cipher, mode, key, inner)...), true)
	}
	for _, mode := range []packet.AEADMode{packet.AEADModeOCB, packet.AEADModeEAX, packet.AEADModeGCM} {
		for _, cipher := range []packet.CipherFunction{packet.CipherAES128, packet.CipherAES192, packet.CipherAES256} {
			t.Run(fmt.Sprintf("%s/%s", aeadModeName(mode), cipherName(cipher)), func(t *testing.T) {
				body := v2(cipher, mode)
				if got, err := k.codec(t, Options{}, k.ourA).Open(body); err != nil || !bytes.Equal(got, request) {
					t.Fatalf("default Open: %v", err)
				}
				for _, opts := range []Options{{AEADModes: []string{None}}, {Ciphers: []string{"aes256"}, AEADModes: []string{"OCB"}}} {
					refused := (len(opts.Ciphers) > 0 && cipher != packet.CipherAES256) || (opts.AEADModes[0] == "OCB" && mode != packet.AEADModeOCB) || opts.AEADModes[0] == None
					k.rsaA.Store(0)
					_, err := k.codec(t, opts, k.ourA).Open(body)
					if refused {
						wantErr(t, err, envelope.ErrUndecryptable)
						if n := k.rsaA.Load(); n != 0 {
							t.Errorf("%d RSA decryptions before refusing", n)
						}
					} else if err != nil {
						t.Errorf("Open with %+v: %v", opts, err)
					}
				}
			})
		}
	}
}

// TestOptions: allow-lists take only what can be allowed.
func TestOptions(t *testing.T) {
	k := limits(t)
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"CAST5", Options{Ciphers: []string{"AES256", "CAST5"}}, `cipher "CAST5" is not supported`},
		{"3DES", Options{Ciphers: []string{"3DES"}}, "not supported"},
		{"no cipher", Options{Ciphers: []string{None}}, "not supported"},
		{"SHA-1", Options{Digests: []string{"SHA1"}}, `digest "SHA1" is not supported`},
		{"DSA", Options{KeyAlgorithms: []string{"RSA", "DSA"}}, "not supported"},
		{"AEAD mode", Options{AEADModes: []string{"CFB"}}, "not supported"},
		{"compression", Options{Compressions: []string{"LZMA"}}, "not supported"},
		{"RSA-1024", Options{MinRSABits: 1024}, "below 2048"},
		{"RSA-3072 with 2048-bit keys", Options{MinRSABits: 3072}, "at least 3072"},
		{"no RSA", Options{KeyAlgorithms: []string{"Ed25519"}}, "not an accepted algorithm (ED25519)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New([]*openpgp.Entity{k.ourA}, []*openpgp.Entity{k.googlePublic}, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := New([]*openpgp.Entity{k.ourA}, []*openpgp.Entity{k.googlePublic}, Options{
		Ciphers: []string{"aes128"}, AEADModes: []string{"none"}, Digests: []string{"sha3-512", "SHA512"},
		Compressions: []string{"BZIP2"}, KeyAlgorithms: []string{"rsa", "EdDSA"}, MinRSABits: 2048,
	}); err != nil {
		t.Fatalf("valid options: %v", err)
	}
}
