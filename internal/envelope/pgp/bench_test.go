package pgp

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"fmt"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// benchBody is a ~300-byte request body, the size of a real sendOtp.
var benchBody = []byte(`{"requestHeader":{"protocolVersion":{"major":1,"minor":0,"revision":0},"requestId":"aHR0cHM6Ly9leGFtcGxlLmNvbS9yZXF1ZXN0LzEyMzQ1Njc4OTA","requestTimestamp":"1502545413026","userLocale":"en-US"},"smsMatchingToken":"A1b2C3d4E5f","otpContext":{"association":{}},"accountPhoneNumber":"+15555550123"}`)

// benchPair is a server codec and the matching "Google" codec, with one
// RSA key of the given size on each side.
type benchPair struct {
	server, google   *Codec
	ourRSA, theirRSA *rsa.PrivateKey // primary (signing) keys
}

var (
	benchMu    sync.Mutex
	benchPairs = map[int]*benchPair{}
)

// pairFor generates keys lazily and caches them: RSA-4096 generation takes
// seconds and is only paid when its benchmark runs.
func pairFor(b *testing.B, bits int) *benchPair {
	b.Helper()
	benchMu.Lock()
	defer benchMu.Unlock()
	if p, ok := benchPairs[bits]; ok {
		return p
	}
	ours, err := GenerateKey("bench ours", "ours@bench.test", bits, 0, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	theirs, err := GenerateKey("bench google", "google@bench.test", bits, 0, time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	p := &benchPair{
		server:   newCodec(b, []*openpgp.Entity{ours}, []*openpgp.Entity{public(b, theirs)}, nil),
		google:   newCodec(b, []*openpgp.Entity{theirs}, []*openpgp.Entity{public(b, ours)}, nil),
		ourRSA:   ours.PrivateKey.PrivateKey.(*rsa.PrivateKey),
		theirRSA: theirs.PrivateKey.PrivateKey.(*rsa.PrivateKey),
	}
	benchPairs[bits] = p
	return p
}

var benchSizes = []int{2048, 3072, 4096}

// BenchmarkOpen: decode, RSA-decrypt the session key, AES-256 decrypt, and
// verify one SHA-384 RSA signature.
func BenchmarkOpen(b *testing.B) {
	for _, bits := range benchSizes {
		b.Run(fmt.Sprintf("RSA-%d", bits), func(b *testing.B) {
			p := pairFor(b, bits)
			body, err := p.google.Seal(benchBody)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				got, err := p.server.Open(body)
				if err != nil || !bytes.Equal(got, benchBody) {
					b.Fatalf("Open = %q, %v", got, err)
				}
			}
		})
	}
}

// BenchmarkSeal: one RSA signature, one RSA encryption of the session key,
// AES-256 and encoding.
func BenchmarkSeal(b *testing.B) {
	for _, bits := range benchSizes {
		b.Run(fmt.Sprintf("RSA-%d", bits), func(b *testing.B) {
			p := pairFor(b, bits)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.server.Seal(benchBody); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRSAFloor is the cost of the RSA operations alone, the floor under
// Open (one private-key decryption, one public-key verification) and Seal
// (one private-key signature, one public-key encryption), for comparison.
func BenchmarkRSAFloor(b *testing.B) {
	for _, bits := range benchSizes {
		p := func(b *testing.B) *benchPair { return pairFor(b, bits) }
		digest := sha512.Sum384(benchBody)
		sessionKey := make([]byte, 35) // algorithm byte, AES-256 key, checksum
		b.Run(fmt.Sprintf("Open/RSA-%d", bits), func(b *testing.B) {
			p := p(b)
			//lint:ignore SA1019 OpenPGP's RSA encryption is PKCS #1 v1.5: this floor times exactly that operation.
			ct, err := rsa.EncryptPKCS1v15(rand.Reader, &p.ourRSA.PublicKey, sessionKey)
			if err != nil {
				b.Fatal(err)
			}
			sig, err := rsa.SignPKCS1v15(nil, p.theirRSA, crypto.SHA384, digest[:])
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				//lint:ignore SA1019 OpenPGP's RSA encryption is PKCS #1 v1.5: this floor times exactly that operation.
				if _, err := rsa.DecryptPKCS1v15(nil, p.ourRSA, ct); err != nil {
					b.Fatal(err)
				}
				if err := rsa.VerifyPKCS1v15(&p.theirRSA.PublicKey, crypto.SHA384, digest[:], sig); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Seal/RSA-%d", bits), func(b *testing.B) {
			p := p(b)
			for b.Loop() {
				if _, err := rsa.SignPKCS1v15(nil, p.ourRSA, crypto.SHA384, digest[:]); err != nil {
					b.Fatal(err)
				}
				//lint:ignore SA1019 OpenPGP's RSA encryption is PKCS #1 v1.5: this floor times exactly that operation.
				if _, err := rsa.EncryptPKCS1v15(rand.Reader, &p.theirRSA.PublicKey, sessionKey); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
