package pgp

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
)

// Bounds on the work an unauthenticated body can cause. Nothing in a
// request is trusted before its signature verifies, and the signature is
// only reached after a private-key operation, so Open looks at the packet
// structure first (no cryptography) and refuses anything that would make it
// do more than a request from Google does:
//
//   - at most one session-key packet per encryption key of ours plus
//     ExtraRecipients, never two for the same key of ours, and no hidden
//     recipient (key ID 0) unless Options.HiddenRecipients: each key of ours
//     is tried at most once per request, so a request costs at most one RSA
//     decryption per key of ours, never one per packet;
//   - nothing before the encrypted data but session-key packets, and nothing
//     after it; integrity protection (SEIPD v1 with MDC or v2 with AEAD);
//   - inside, at most one compressed packet, of an accepted algorithm, that
//     inflates to at most Options.MaxPlaintext, with no compressed packet in
//     it; at most MaxSignatures signatures; one literal packet of at most
//     Options.MaxPlaintext.
const (
	// ExtraRecipients is how many session-key packets for keys that are not
	// ours a request may carry: Google sends one per encryption key of ours
	// it knows, and a sender may add its own. Those cost no RSA operation.
	ExtraRecipients = 3
	// MaxSignatures is how many signatures a request may carry. Google signs
	// with each of its active keys (two during a rotation); each signature
	// costs a hash of the whole message before any is known to be good.
	MaxSignatures = 4
	// listedRecipients caps the key IDs an error lists.
	listedRecipients = 5
)

// OpenPGP packet tags (RFC 9580 §5).
const (
	tagPKESK      = 1
	tagSignature  = 2
	tagSKESK      = 3
	tagOnePassSig = 4
	tagCompressed = 8
	tagSED        = 9
	tagMarker     = 10
	tagLiteral    = 11
	tagSEIPD      = 18
	tagAEAD       = 20
	tagPadding    = 21
)

var tagNames = map[uint8]string{
	tagPKESK: "session-key", tagSignature: "signature", tagSKESK: "passphrase session-key",
	tagOnePassSig: "one-pass signature", tagCompressed: "compressed data", tagSED: "unprotected encrypted data",
	tagMarker: "marker", tagLiteral: "literal data", tagSEIPD: "encrypted data", tagAEAD: "OCB encrypted data",
	tagPadding: "padding", 5: "secret key", 6: "public key", 7: "secret subkey", 13: "user ID", 14: "public subkey",
}

func tagName(tag uint8) string {
	if n, ok := tagNames[tag]; ok {
		return n + " packet"
	}
	return fmt.Sprintf("packet of unknown type %d", tag)
}

// Open decodes, decrypts and verifies a request body. Failures wrap
// envelope.ErrUndecryptable (not base64url, not OpenPGP, not for an active
// key of ours, not integrity protected, a cipher or compression not
// accepted, tampered, too large, malformed) or envelope.ErrBadSignature
// (decrypted fine, but no valid signature by an active Google key with an
// accepted digest and key).
func (c *Codec) Open(body []byte) ([]byte, error) {
	msg, err := decodeBody(body)
	if err != nil {
		return nil, undecryptable(err)
	}
	s, err := c.scan(msg)
	if err != nil {
		return nil, undecryptable(err)
	}
	now := c.cfg.Now()
	decrypted, key, err := c.decrypt(s, now)
	if err != nil {
		return nil, undecryptable(err)
	}
	signed, err := c.unwrap(decrypted)
	if err != nil {
		return nil, err
	}
	return c.verify(signed, key, now)
}

func decodeBody(body []byte) ([]byte, error) {
	b64, err := unpad(body)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, base64.RawURLEncoding.DecodedLen(len(b64)))
	n, err := base64.RawURLEncoding.Decode(msg, b64)
	if err != nil {
		return nil, fmt.Errorf("not base64url: %w", err)
	}
	return msg[:n], nil
}

// scanned is the outer structure of a message, read without cryptography.
type scanned struct {
	recipients []*packet.EncryptedKey
	data       []byte // the encrypted data packet, from its header to the end
	v2         *packet.SymmetricallyEncrypted
}

// scan reads the packets in front of the encrypted data and the data
// packet's header, and checks the bounds that need no key: see the
// constants above.
func (c *Codec) scan(msg []byte) (*scanned, error) {
	s := &scanned{}
	ours := make(map[uint64]bool)
	hidden := false
	for off := 0; ; {
		if off == len(msg) {
			if len(s.recipients) == 0 {
				return nil, errors.New("not an encrypted OpenPGP message")
			}
			return nil, errors.New("no encrypted data after the session-key packets")
		}
		tag, hlen, blen, err := header(msg[off:])
		if err != nil {
			return nil, fmt.Errorf("malformed OpenPGP packet at byte %d: %w", off, err)
		}
		switch tag {
		case tagPKESK:
			if len(s.recipients) == c.maxRecipients {
				return nil, fmt.Errorf("more than %d session-key packets; at most one per key of ours and %d more are read", c.maxRecipients, ExtraRecipients)
			}
			if blen < 0 || off+hlen+blen > len(msg) {
				return nil, fmt.Errorf("malformed session-key packet at byte %d", off)
			}
			r := bytes.NewReader(msg[off : off+hlen+blen])
			p, err := packet.Read(r)
			ek, ok := p.(*packet.EncryptedKey)
			if err != nil || !ok || r.Len() != 0 {
				return nil, fmt.Errorf("malformed session-key packet at byte %d: %v", off, err)
			}
			switch {
			case ek.KeyId == 0 && !c.policy.hidden:
				return nil, errors.New("encrypted to a hidden recipient (key ID 0), which is not accepted")
			case ek.KeyId == 0 && hidden:
				return nil, errors.New("more than one hidden recipient")
			case ek.KeyId == 0:
				hidden = true
			case ours[ek.KeyId]:
				return nil, fmt.Errorf("two session-key packets for key %016X", ek.KeyId)
			case len(c.oursByID[ek.KeyId]) > 0:
				ours[ek.KeyId] = true
			}
			s.recipients = append(s.recipients, ek)
			off += hlen + blen
		case tagSEIPD:
			return s, c.scanData(s, msg[off:])
		case tagSKESK:
			// Whoever knows the passphrase could have written it; refuse
			// rather than rely on the signature alone.
			return nil, errors.New("message is (also) encrypted with a passphrase")
		case tagSED:
			return nil, errors.New("message is not integrity protected (no MDC)")
		case tagLiteral, tagCompressed, tagOnePassSig, tagSignature:
			if len(s.recipients) == 0 {
				return nil, errors.New("message is not encrypted")
			}
			return nil, fmt.Errorf("unexpected %s after the session-key packets", tagName(tag))
		default:
			return nil, fmt.Errorf("unexpected %s before the encrypted data", tagName(tag))
		}
	}
}

// scanData checks the encrypted data packet: integrity protected, an
// accepted cipher and mode where the header names them (SEIPD v2), session
// keys of the matching version, complete, and the last thing in the message.
func (c *Codec) scanData(s *scanned, data []byte) error {
	if len(s.recipients) == 0 {
		return errors.New("not encrypted to a public key")
	}
	r := bytes.NewReader(data)
	p, err := packet.Read(r)
	if err != nil {
		return fmt.Errorf("malformed encrypted data packet: %v", err)
	}
	se := p.(*packet.SymmetricallyEncrypted) // tag 18
	if se.Version == 2 {
		if !c.policy.aeadModes[se.Mode] {
			return fmt.Errorf("encrypted with AEAD mode %s, not an accepted mode (%s)", aeadModeName(se.Mode), c.policy.aeadNames)
		}
		if !c.policy.ciphers[se.Cipher] {
			return fmt.Errorf("encrypted with %s, not an accepted cipher (%s)", cipherName(se.Cipher), c.policy.cipherNames)
		}
		s.v2 = se
	}
	for _, ek := range s.recipients {
		if (ek.Version == 6) != (se.Version == 2) {
			return fmt.Errorf("a version %d session-key packet with version %d encrypted data", ek.Version, se.Version)
		}
	}
	if _, err := io.Copy(io.Discard, se.Contents); err != nil {
		return fmt.Errorf("truncated encrypted data: %v", err)
	}
	if r.Len() != 0 {
		return fmt.Errorf("%d bytes after the OpenPGP message", r.Len())
	}
	s.data = data
	return nil
}

// decrypt finds the session key with an active decryption key of ours, each
// key tried at most once, checks its cipher, and decrypts and checks the
// integrity of the data. It returns the decrypted packets and the key.
func (c *Codec) decrypt(s *scanned, now time.Time) ([]byte, openpgp.Key, error) {
	var active []openpgp.Key
	for _, e := range c.ours {
		active = append(active, decryptionKeys(e, now, c.cfg)...)
	}
	tried := make(map[*packet.PrivateKey]bool)
	var failed error
	for _, ek := range s.recipients {
		for _, k := range active {
			if tried[k.PrivateKey] || (ek.KeyId != 0 && ek.KeyId != k.PublicKey.KeyId) || ek.Algo != k.PrivateKey.PubKeyAlgo {
				continue
			}
			tried[k.PrivateKey] = true
			attempt := *ek // Decrypt fills in Key and CipherFunc
			if err := attempt.Decrypt(k.PrivateKey, c.cfg); err != nil {
				failed = fmt.Errorf("the session key for %016X does not decrypt: %v", k.PublicKey.KeyId, err)
				continue
			}
			cipher := attempt.CipherFunc
			if s.v2 != nil {
				cipher = s.v2.Cipher
			}
			if !c.policy.ciphers[cipher] {
				clear(attempt.Key)
				return nil, openpgp.Key{}, fmt.Errorf("encrypted with %s, not an accepted cipher (%s)", cipherName(cipher), c.policy.cipherNames)
			}
			plain, err := decryptData(s.data, cipher, attempt.Key)
			clear(attempt.Key)
			if err != nil {
				return nil, openpgp.Key{}, err
			}
			return plain, k, nil
		}
	}
	if failed != nil {
		return nil, openpgp.Key{}, failed
	}
	return nil, openpgp.Key{}, c.notForUs(s.recipients)
}

// notForUs says which keys a message was encrypted to, the usual rotation
// mistake, listing a few of them.
func (c *Codec) notForUs(recipients []*packet.EncryptedKey) error {
	var ids []string
	for i, ek := range recipients {
		if i == listedRecipients {
			ids = append(ids, fmt.Sprintf("and %d more", len(recipients)-i))
			break
		}
		if ek.KeyId == 0 {
			ids = append(ids, "a hidden recipient")
		} else {
			ids = append(ids, fmt.Sprintf("%016X", ek.KeyId))
		}
	}
	return fmt.Errorf("encrypted to %s, none of them an active key of ours", strings.Join(ids, ", "))
}

// decryptData decrypts the data packet and checks its MDC or AEAD tags. The
// plaintext is never longer than the ciphertext.
func decryptData(data []byte, cipher packet.CipherFunction, key []byte) ([]byte, error) {
	p, err := packet.Read(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("malformed encrypted data packet: %v", err)
	}
	rc, err := p.(*packet.SymmetricallyEncrypted).Decrypt(cipher, key)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %v", err)
	}
	plain, err := io.ReadAll(io.LimitReader(rc, int64(len(data))))
	if err == nil {
		err = rc.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("integrity check failed: %v", err)
	}
	return plain, nil
}

// unwrap checks the decrypted packets: optionally one compressed packet
// holding everything, of an accepted algorithm and inflating to at most
// maxPlaintext, then one-pass signatures, one literal packet of at most
// maxPlaintext and signatures, with no compressed packet inside another.
// It returns the packets without the compression layer.
func (c *Codec) unwrap(plain []byte) ([]byte, error) {
	tag, hlen, _, err := header(plain)
	if err != nil {
		return nil, undecryptable(fmt.Errorf("malformed decrypted data: %w", err))
	}
	inner := plain
	if tag == tagCompressed {
		if hlen >= len(plain) {
			return nil, undecryptable(errors.New("malformed compressed packet"))
		}
		if algo := packet.CompressionAlgo(plain[hlen]); !c.policy.compressions[algo] {
			return nil, undecryptable(fmt.Errorf("compressed with %s, not an accepted algorithm (%s)", compressionName(algo), c.policy.compressionNames))
		}
		r := bytes.NewReader(plain)
		p, err := packet.Read(r)
		if err != nil {
			return nil, undecryptable(fmt.Errorf("malformed compressed packet: %v", err))
		}
		inner, err = io.ReadAll(io.LimitReader(p.(*packet.Compressed).Body, c.maxPlaintext+1))
		switch {
		case int64(len(inner)) > c.maxPlaintext:
			return nil, undecryptable(fmt.Errorf("compressed data expands beyond %d bytes", c.maxPlaintext))
		case err != nil:
			return nil, undecryptable(fmt.Errorf("decompress: %v", err))
		case r.Len() != 0:
			return nil, undecryptable(errors.New("data after the compressed packet"))
		}
	}

	r := bytes.NewReader(inner)
	var ops, sigs, literals int
	for r.Len() > 0 {
		off := len(inner) - r.Len()
		tag, _, _, err := header(inner[off:])
		if err != nil {
			return nil, undecryptable(fmt.Errorf("malformed decrypted data: %w", err))
		}
		p, err := packet.Read(r)
		var unsupported pgperrors.UnsupportedError
		switch {
		case tag == tagOnePassSig || tag == tagSignature:
			// An unsupported signature version counts, and is skipped as
			// go-crypto skips it: another signature may still be good.
			if err != nil && !errors.As(err, &unsupported) {
				return nil, undecryptable(fmt.Errorf("malformed %s: %v", tagName(tag), err))
			}
			if tag == tagOnePassSig {
				ops++
			} else {
				sigs++
			}
			if ops > MaxSignatures || sigs > MaxSignatures {
				return nil, fmt.Errorf("%w: more than %d signatures", envelope.ErrBadSignature, MaxSignatures)
			}
		case err != nil:
			return nil, undecryptable(fmt.Errorf("malformed %s: %v", tagName(tag), err))
		case tag == tagLiteral:
			if literals++; literals > 1 {
				return nil, undecryptable(errors.New("more than one literal data packet"))
			}
			n, err := io.Copy(io.Discard, io.LimitReader(p.(*packet.LiteralData).Body, c.maxPlaintext+1))
			if err != nil {
				return nil, undecryptable(fmt.Errorf("malformed literal data: %v", err))
			}
			if n > c.maxPlaintext {
				return nil, undecryptable(fmt.Errorf("literal data exceeds %d bytes", c.maxPlaintext))
			}
		case tag == tagCompressed:
			return nil, undecryptable(errors.New("compressed data inside compressed data"))
		default:
			return nil, undecryptable(fmt.Errorf("unexpected %s inside the encrypted data", tagName(tag)))
		}
	}
	if literals == 0 {
		return nil, undecryptable(errors.New("no literal data"))
	}
	return inner, nil
}

// verify reads the signed message, now decrypted, decompressed and checked,
// and accepts it when a signature of Google's is good.
func (c *Codec) verify(signed []byte, decryptedWith openpgp.Key, now time.Time) ([]byte, error) {
	md, err := openpgp.ReadMessage(bytes.NewReader(signed), googleRing{c}, nil, c.verifyCfg)
	if err != nil {
		return nil, undecryptable(err)
	}
	// The whole literal body must be read before any signature result is
	// known; only then is anything of it trusted.
	plaintext, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, c.maxPlaintext+1))
	switch {
	case err != nil:
		return nil, undecryptable(err)
	case int64(len(plaintext)) > c.maxPlaintext:
		return nil, undecryptable(fmt.Errorf("plaintext exceeds %d bytes", c.maxPlaintext))
	case !md.IsVerified && md.IsSigned:
		return nil, undecryptable(errors.New("message ended before its signatures"))
	}
	if err := c.checkSignatures(md, decryptedWith, now); err != nil {
		return nil, fmt.Errorf("%w: %v", envelope.ErrBadSignature, err)
	}
	return plaintext, nil
}

// checkSignatures accepts the message if any signature candidate is valid,
// uses an accepted digest, and was made by an active signing key, of an
// accepted algorithm and size, of one of Google's keys. go-crypto checks
// each candidate against the key valid when the signature was made; the
// extra check at now refuses keys that have since expired or been revoked.
// A signature that names its intended recipients must name the key that
// decrypted the message (go-crypto checks this itself only when it also
// decrypts).
func (c *Codec) checkSignatures(md *openpgp.MessageDetails, decryptedWith openpgp.Key, now time.Time) error {
	if !md.IsSigned || len(md.SignatureCandidates) == 0 {
		return errors.New("message is not signed")
	}
	var reasons []error
	for _, cand := range md.SignatureCandidates {
		hash := cand.HashAlgorithm
		if cand.CorrespondingSig != nil {
			hash = cand.CorrespondingSig.Hash
		}
		switch {
		case cand.SignedByEntity == nil || !c.googleFPR[string(cand.SignedByEntity.PrimaryKey.Fingerprint)]:
			reasons = append(reasons, fmt.Errorf("signature by unknown key %016X", cand.IssuerKeyId))
		case !c.policy.digests[hash]:
			reasons = append(reasons, fmt.Errorf("signature by %016X uses %s, not an accepted digest (%s)", cand.IssuerKeyId, digestName(hash), c.policy.digestNames))
		case cand.SignatureError != nil:
			reasons = append(reasons, fmt.Errorf("signature by %016X: %w", cand.IssuerKeyId, cand.SignatureError))
		case cand.SignedBy == nil || cand.CorrespondingSig == nil:
			reasons = append(reasons, fmt.Errorf("signature by %016X: no signing key", cand.IssuerKeyId))
		default:
			if err := c.policy.checkKey(cand.SignedBy.PublicKey); err != nil {
				reasons = append(reasons, fmt.Errorf("signature by %016X: %w", cand.IssuerKeyId, err))
				continue
			}
			if _, ok := cand.SignedByEntity.SigningKeyById(now, cand.SignedBy.PublicKey.KeyId, c.cfg); !ok {
				reasons = append(reasons, fmt.Errorf("signature by %016X: key is expired or revoked", cand.IssuerKeyId))
				continue
			}
			if !intendedFor(cand.CorrespondingSig, decryptedWith) {
				reasons = append(reasons, fmt.Errorf("signature by %016X names other intended recipients", cand.IssuerKeyId))
				continue
			}
			return nil
		}
	}
	return errors.Join(reasons...)
}

func intendedFor(sig *packet.Signature, k openpgp.Key) bool {
	if len(sig.IntendedRecipients) == 0 {
		return true
	}
	for _, r := range sig.IntendedRecipients {
		if bytes.Equal(r.Fingerprint, k.Entity.PrimaryKey.Fingerprint) {
			return true
		}
	}
	return false
}

// googleRing is the openpgp.KeyRing that verify hands go-crypto: Google's
// keys, which only verify. Decryption never goes through go-crypto's key
// ring (see decrypt).
type googleRing struct{ c *Codec }

func (r googleRing) EntitiesById(id uint64) []*openpgp.Entity { return r.c.googleByID[id] }

func (r googleRing) KeysById(id uint64) []openpgp.Key {
	var keys []openpgp.Key
	for _, e := range r.c.googleByID[id] {
		keys = append(keys, openpgp.EntityList{e}.KeysById(id)...)
	}
	return keys
}

// header parses the OpenPGP packet header at the start of b (RFC 9580
// §4.2): the packet's tag, the header's length and the body's length, or -1
// for a body in partial chunks or running to the end (old format,
// indeterminate length). It does not check that the body is there.
func header(b []byte) (tag uint8, hlen, blen int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	if b[0]&0x80 == 0 {
		return 0, 0, 0, errors.New("no packet tag")
	}
	if b[0]&0x40 == 0 { // old format
		tag = (b[0] & 0x3f) >> 2
		lt := b[0] & 3
		if lt == 3 {
			return tag, 1, -1, nil
		}
		n := 1 << lt
		if len(b) < 1+n {
			return 0, 0, 0, io.ErrUnexpectedEOF
		}
		var l uint64
		for _, x := range b[1 : 1+n] {
			l = l<<8 | uint64(x)
		}
		return tag, 1 + n, lengthInt(l), nil
	}
	tag = b[0] & 0x3f
	if len(b) < 2 {
		return 0, 0, 0, io.ErrUnexpectedEOF
	}
	switch o := b[1]; {
	case o < 192:
		return tag, 2, int(o), nil
	case o < 224:
		if len(b) < 3 {
			return 0, 0, 0, io.ErrUnexpectedEOF
		}
		return tag, 3, (int(o)-192)<<8 + int(b[2]) + 192, nil
	case o == 255:
		if len(b) < 6 {
			return 0, 0, 0, io.ErrUnexpectedEOF
		}
		return tag, 6, lengthInt(uint64(binary.BigEndian.Uint32(b[2:6]))), nil
	default: // partial body length
		return tag, 2, -1, nil
	}
}

// lengthInt caps a packet length so that offset arithmetic cannot
// overflow; any length this large runs past every body anyway.
func lengthInt(l uint64) int {
	return int(min(l, 1<<31))
}

func undecryptable(err error) error {
	return fmt.Errorf("%w: %v", envelope.ErrUndecryptable, err)
}
