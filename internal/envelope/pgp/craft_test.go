package pgp

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Messages built packet by packet, as a hostile sender would build them:
// GnuPG and Seal only make well-formed ones.

// encryptionKey is the (first) active encryption key of e.
func encryptionKey(t testing.TB, e *openpgp.Entity) *packet.PublicKey {
	t.Helper()
	keys := encryptionKeys(e, time.Now(), &packet.Config{})
	if len(keys) == 0 {
		t.Fatal("no encryption key")
	}
	return keys[0].PublicKey
}

// sessionKey is a fresh AES key for cipher.
func sessionKey(t testing.TB, cipher packet.CipherFunction) []byte {
	t.Helper()
	key := make([]byte, cipher.KeySize())
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// pkesk is a session-key packet that gives key to pub: v3 for SEIPD v1, v6
// for SEIPD v2 (aead).
func pkesk(t testing.TB, pub *packet.PublicKey, cipher packet.CipherFunction, aead bool, key []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := packet.SerializeEncryptedKeyAEAD(&b, pub, cipher, aead, key, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fakePKESK is a v3 session-key packet for keyID holding a random 2047-bit
// number where an RSA-2048 ciphertext goes: below any 2048-bit modulus, so
// each one costs the receiver a full RSA decryption if it tries it, and
// costs nothing to make.
func fakePKESK(keyID uint64) []byte {
	body := []byte{3, 0, 0, 0, 0, 0, 0, 0, 0, byte(packet.PubKeyAlgoRSA), 0x07, 0xFF}
	for i := 0; i < 8; i++ {
		body[1+i] = byte(keyID >> (56 - 8*i))
	}
	mpi := make([]byte, 256)
	_, _ = rand.Read(mpi)
	mpi[0] = mpi[0]&0x3F | 0x40
	body = append(body, mpi...)
	l := len(body) - 192 // a two-octet new-format length
	return append([]byte{0xC0 | tagPKESK, byte(l>>8) + 192, byte(l)}, body...)
}

// seipd encrypts inner (packets) with key: SEIPD v1 with MDC, or v2 with
// AEAD mode when mode is not 0.
func seipd(t testing.TB, cipher packet.CipherFunction, mode packet.AEADMode, key, inner []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	cfg := &packet.Config{AEADConfig: &packet.AEADConfig{}}
	w, err := packet.SerializeSymmetricallyEncrypted(&b, cipher, mode != 0, packet.CipherSuite{Cipher: cipher, Mode: mode}, key, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(inner); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// encrypted is inner encrypted with AES-256 (SEIPD v1) to each of
// recipients, after the packets of before.
func encrypted(t testing.TB, inner []byte, recipients []*openpgp.Entity, before ...[]byte) []byte {
	t.Helper()
	key := sessionKey(t, packet.CipherAES256)
	var msg []byte
	for _, b := range before {
		msg = append(msg, b...)
	}
	for _, r := range recipients {
		msg = append(msg, pkesk(t, encryptionKey(t, r), packet.CipherAES256, false, key)...)
	}
	return append(msg, seipd(t, packet.CipherAES256, 0, key, inner)...)
}

// signed is the one-pass signed message of plaintext by signers, as the
// packets inside the encryption.
func signed(t testing.TB, signers []*openpgp.Entity, plaintext []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := openpgp.SignWithParams(&b, signers, &openpgp.SignParams{Config: &packet.Config{DefaultHash: crypto.SHA384}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plaintext); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// missigned is a one-pass signed message whose literal data is literal while
// its signatures by signers are over something else: well formed, every
// signature checked in full, none good.
func missigned(t testing.TB, signers []*openpgp.Entity, literal []byte) []byte {
	t.Helper()
	var sigs bytes.Buffer
	if err := openpgp.DetachSign(&sigs, signers, bytes.NewReader([]byte("something else")), &packet.Config{DefaultHash: crypto.SHA384}); err != nil {
		t.Fatal(err)
	}
	var msg bytes.Buffer
	r := bytes.NewReader(sigs.Bytes())
	for i := 0; ; i++ {
		p, err := packet.Read(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sig := p.(*packet.Signature)
		ops := &packet.OnePassSignature{Version: 3, SigType: sig.SigType, Hash: sig.Hash, PubKeyAlgo: sig.PubKeyAlgo,
			KeyId: *sig.IssuerKeyId, IsLast: i == len(signers)-1}
		if err := ops.Serialize(&msg); err != nil {
			t.Fatal(err)
		}
	}
	w, err := packet.SerializeLiteral(nopCloser{&msg}, true, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(literal)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	msg.Write(sigs.Bytes())
	return msg.Bytes()
}

// compressed wraps inner in a compressed data packet.
func compressed(t testing.TB, algo packet.CompressionAlgo, inner []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := packet.SerializeCompressed(nopCloser{&b}, algo, &packet.CompressionConfig{Level: 9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(inner); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// rsaCounter counts the RSA private-key decryptions of one key.
type rsaCounter struct {
	*rsa.PrivateKey
	n *atomic.Int64
}

func (r rsaCounter) Decrypt(rand io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	r.n.Add(1)
	return r.PrivateKey.Decrypt(rand, msg, opts)
}

// countDecryptions makes every RSA decryption key of e count its
// decryptions in n. e must be a fresh key of its own test.
func countDecryptions(t testing.TB, e *openpgp.Entity, n *atomic.Int64) {
	t.Helper()
	found := false
	for _, sk := range e.Subkeys {
		if k, ok := sk.PrivateKey.PrivateKey.(*rsa.PrivateKey); ok && sk.PublicKey.PubKeyAlgo.CanEncrypt() {
			sk.PrivateKey.PrivateKey = rsaCounter{k, n}
			found = true
		}
	}
	if !found {
		t.Fatal("no RSA decryption subkey")
	}
}
