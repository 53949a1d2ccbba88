package pgp

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Keys held elsewhere (an HSM through PKCS#11): go-crypto signs with any
// crypto.Signer and, for RSA, decrypts session keys with any
// crypto.Decrypter held in packet.PrivateKey.PrivateKey. The public key
// packets and self-signatures come from the public key block, since only
// the key's owner can sign them and the token stores no OpenPGP data.

// AttachSigners makes e, a public key as read from a public key file, one
// of ours whose private operations run in signers: each key or subkey of e
// whose RSA public key equals a signer's gets that signer as its private
// key. A subkey that encrypts needs a signer that is also a
// crypto.Decrypter. It fails when no key of e matches, when e already
// holds secret material, or on a key that is not RSA.
func AttachSigners(e *openpgp.Entity, signers []crypto.Signer) error {
	if e == nil || e.PrimaryKey == nil {
		return errors.New("pgp: nil key")
	}
	id := e.PrimaryKey.KeyIdString()
	if e.PrivateKey != nil {
		return fmt.Errorf("pgp: key %s already holds secret material; give the public key block of a key held in a token", id)
	}
	find := func(pk *packet.PublicKey) (crypto.Signer, error) {
		pub, ok := pk.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("pgp: key %s: %s keys in a token are not supported, only RSA", pk.KeyIdString(), algorithm(pk))
		}
		for _, s := range signers {
			if sp, ok := s.Public().(*rsa.PublicKey); ok && sp.Equal(pub) {
				return s, nil
			}
		}
		return nil, nil
	}
	attached := 0
	s, err := find(e.PrimaryKey)
	if err != nil {
		return err
	}
	if s != nil {
		priv := &packet.PrivateKey{PublicKey: *e.PrimaryKey, PrivateKey: s}
		e.PrivateKey, e.PrimaryKey = priv, &priv.PublicKey
		attached++
	}
	for i := range e.Subkeys {
		sk := &e.Subkeys[i]
		s, err := find(sk.PublicKey)
		if err != nil {
			return err
		}
		if s == nil {
			continue
		}
		if _, ok := s.(crypto.Decrypter); !ok && sk.PublicKey.PubKeyAlgo.CanEncrypt() {
			return fmt.Errorf("pgp: subkey %s: its key in the token cannot decrypt", sk.PublicKey.KeyIdString())
		}
		priv := &packet.PrivateKey{PublicKey: *sk.PublicKey, PrivateKey: s}
		sk.PrivateKey, sk.PublicKey = priv, &priv.PublicKey
		attached++
	}
	if attached == 0 {
		return fmt.Errorf("pgp: key %s: none of its keys is the key pair in the token (is the public key file the one written for that token object?)", id)
	}
	if e.PrivateKey == nil {
		// checkSecrets and go-crypto expect a primary private key when
		// any is present; a token holding only the subkey is a GnuPG
		// "stub" primary, which signs nothing.
		return fmt.Errorf("pgp: key %s: the token holds a subkey but not the primary key; otpgate signs with the primary key", id)
	}
	return nil
}

// GenerateExternalKey makes a key for Google's rules, like GenerateKey, out
// of two RSA key pairs made elsewhere (in a token): signer becomes the
// primary key that certifies and signs (and signs its own certificate
// here), decrypter the encryption subkey. Both are created at now and
// expire after lifetime (0: DefaultKeyLifetime).
func GenerateExternalKey(name, email string, lifetime time.Duration, now time.Time, signer crypto.Signer, decrypter crypto.Decrypter) (*openpgp.Entity, error) {
	signPub, ok1 := signer.Public().(*rsa.PublicKey)
	encPub, ok2 := decrypter.Public().(*rsa.PublicKey)
	if !ok1 || !ok2 {
		return nil, errors.New("pgp: keys in a token must be RSA")
	}
	for _, p := range []*rsa.PublicKey{signPub, encPub} {
		if bits := p.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return nil, fmt.Errorf("pgp: RSA key size %d outside %d..%d", bits, MinRSABits, MaxRSABits)
		}
	}
	cfg, err := keyConfig(lifetime, now)
	if err != nil {
		return nil, err
	}
	now = cfg.Now()
	primary := &packet.PrivateKey{PublicKey: *packet.NewRSAPublicKey(now, signPub), PrivateKey: signer}
	e := &openpgp.Entity{
		PrimaryKey:       &primary.PublicKey,
		PrivateKey:       primary,
		Identities:       map[string]*openpgp.Identity{},
		DirectSignatures: []*packet.VerifiableSignature{},
	}
	if err := e.AddUserId(name, "", email, cfg); err != nil {
		return nil, fmt.Errorf("pgp: generate key: %w", err)
	}

	sub := &packet.PrivateKey{PublicKey: *packet.NewRSAPublicKey(now, encPub), PrivateKey: decrypter}
	sub.IsSubkey = true
	lifetimeSecs := cfg.KeyLifetimeSecs
	binding := &packet.Signature{
		Version:                   e.PrimaryKey.Version,
		SigType:                   packet.SigTypeSubkeyBinding,
		PubKeyAlgo:                e.PrimaryKey.PubKeyAlgo,
		Hash:                      crypto.SHA384,
		CreationTime:              now,
		IssuerKeyId:               &e.PrimaryKey.KeyId,
		IssuerKeyVersion:          uint8(e.PrimaryKey.Version),
		IssuerFingerprint:         e.PrimaryKey.Fingerprint,
		KeyLifetimeSecs:           &lifetimeSecs,
		FlagsValid:                true,
		FlagEncryptStorage:        true,
		FlagEncryptCommunications: true,
	}
	if err := binding.SignKey(&sub.PublicKey, e.PrivateKey, cfg); err != nil {
		return nil, fmt.Errorf("pgp: generate key: sign subkey binding: %w", err)
	}
	e.Subkeys = append(e.Subkeys, openpgp.Subkey{
		PublicKey:  &sub.PublicKey,
		PrivateKey: sub,
		Bindings:   []*packet.VerifiableSignature{packet.NewVerifiableSig(binding)},
		Primary:    e,
	})
	return e, nil
}
