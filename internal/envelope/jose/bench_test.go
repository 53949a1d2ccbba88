package jose

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"testing"
)

var benchSizes = []int{2048, 3072, 4096}

// benchParties has one key per side of the given size; the keys are generated
// on first use and cached, RSA-4096 generation taking seconds.
func benchParties(b *testing.B, bits int) parties {
	b.Helper()
	mk := func(kid string) *Key {
		priv := rsaKey(b, kid, bits)
		return &Key{ID: kid, PrivateKey: priv, PublicKey: &priv.PublicKey}
	}
	return parties{ours: []*Key{mk("bench-ours")}, google: []*Key{mk("bench-google")}}
}

// BenchmarkOpen opens a default request (RSA1_5, A128CBC-HS256, RS256) of
// about 300 bytes: one RSA private-key operation and one public-key one.
func BenchmarkOpen(b *testing.B) {
	for _, bits := range benchSizes {
		b.Run(fmt.Sprintf("RSA-%d", bits), func(b *testing.B) {
			p := benchParties(b, bits)
			body, err := p.googleCodec(b, Options{}).Seal(payload)
			if err != nil {
				b.Fatal(err)
			}
			server := p.server(b, Options{})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := server.Open(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSeal seals a response of about 300 bytes with the defaults.
func BenchmarkSeal(b *testing.B) {
	for _, bits := range benchSizes {
		b.Run(fmt.Sprintf("RSA-%d", bits), func(b *testing.B) {
			server := benchParties(b, bits).server(b, Options{})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := server.Seal(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRSAFloor measures the RSA operations alone, the floor under Open
// (decrypt a key, verify a signature) and Seal (sign, encrypt a key): what
// Open and Seal cost beyond it is the envelope's own overhead. OAEP stands in
// for PKCS #1 v1.5 encryption, whose Go functions are deprecated; the
// modular exponentiations, which dominate, are the same.
func BenchmarkRSAFloor(b *testing.B) {
	for _, bits := range benchSizes {
		priv := rsaKey(b, "bench-ours", bits)
		digest := sha256.Sum256(payload)
		sig, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:])
		if err != nil {
			b.Fatal(err)
		}
		cek := make([]byte, 32)
		wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &priv.PublicKey, cek, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("open/RSA-%d", bits), func(b *testing.B) {
			for b.Loop() {
				if _, err := rsa.DecryptOAEP(sha256.New(), nil, priv, wrapped, nil); err != nil {
					b.Fatal(err)
				}
				if err := rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("seal/RSA-%d", bits), func(b *testing.B) {
			for b.Loop() {
				if _, err := rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:]); err != nil {
					b.Fatal(err)
				}
				if _, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, &priv.PublicKey, cek, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
