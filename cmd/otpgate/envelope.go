package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
	"github.com/otpgate/otpgate/internal/hsm"
)

// envelopeFlags choose the message protection of a deployment and its keys
// (SPEC §5). Several keys per side may be active at once: old and new side by
// side during a rotation.
type envelopeFlags struct {
	Envelope      string   `help:"Message protection: pgp or jose (JWE+JWS). Default: whichever scheme's keys are given." enum:",pgp,jose" default:""`
	PGPKey        []string `name:"pgp-key" help:"Our PGP private key file (mode 0600), or a key in an HSM: pkcs11:token=…;object=…?x-public-key=FILE (README: Keys in an HSM). Decrypts requests, signs responses. Repeatable." placeholder:"FILE|URI"`
	PGPGoogleKey  []string `name:"pgp-google-key" help:"Google's PGP public key file: verifies requests, receives responses. Repeatable." type:"path" placeholder:"FILE"`
	JOSEKey       []string `name:"jose-key" help:"Our private JWK or JWKS file (mode 0600, every key with a kid), or a key in an HSM: pkcs11:token=…;object=… (README: Keys in an HSM). Repeatable." placeholder:"FILE|URI"`
	JOSEGoogleKey []string `name:"jose-google-key" help:"Google's public JWK or JWKS file. Repeatable." type:"path" placeholder:"FILE"`
	joseAlgFlags  `embed:""`
	pgpAlgFlags   `embed:""`

	// tokens are the HSM sessions of the codec's keys in a token: codec
	// opens them, and they stay open for the life of the codec, which
	// signs and decrypts through them; closeTokens ends them.
	tokens *hsm.Tokens
}

// pgpAlgFlags are the PGP algorithm allow-lists: what requests may use.
// Unlike JOSE's, they do not choose what answers use, which SPEC §5 fixes:
// AES-256 and SHA-384, uncompressed. Weak algorithms (CAST5, 3DES, IDEA,
// SHA-1, DSA, ElGamal, RSA under 2048 bits) cannot be listed at all.
type pgpAlgFlags struct {
	PGPCipher          []string `name:"pgp-cipher" help:"Symmetric ciphers accepted in requests: AES128, AES192, AES256." default:"AES256,AES192,AES128"`
	PGPAEADMode        []string `name:"pgp-aead-mode" help:"AEAD modes accepted in requests (SEIPD v2): OCB, EAX, GCM; none accepts only SEIPD v1 with MDC, which is always accepted." default:"OCB,EAX,GCM"`
	PGPDigest          []string `name:"pgp-digest" help:"Signature hashes accepted: SHA256, SHA384, SHA512, SHA3-256, SHA3-512." default:"SHA384,SHA512,SHA256"`
	PGPKeyAlgo         []string `name:"pgp-key-algo" help:"Public-key algorithms accepted for every key and subkey, ours and Google's, and every request signer: RSA, ECDSA, ECDH, EdDSA, Ed25519, X25519, Ed448, X448. Google's keys are RSA." default:"RSA"`
	PGPMinRSABits      int      `name:"pgp-min-rsa-bits" help:"Smallest RSA key accepted anywhere, 2048 or more." default:"2048"`
	PGPCompression     []string `name:"pgp-compression" help:"Compression accepted in requests: ZIP, ZLIB, BZIP2, or none (uncompressed is always accepted). BZIP2 is off by default: it costs more CPU to decompress than an RSA decryption." default:"ZIP,ZLIB"`
	PGPHiddenRecipient bool     `name:"pgp-hidden-recipient" help:"Accept requests whose session key names no recipient (gpg --hidden-recipient); each is tried against our keys. Google names its recipients."`
}

// options are the pgp.Options of these flags; maxBody bounds what a request
// may decrypt and decompress to.
func (f pgpAlgFlags) options(now func() time.Time, maxBody int64) pgp.Options {
	return pgp.Options{Now: now, MaxPlaintext: maxBody, Ciphers: f.PGPCipher, AEADModes: f.PGPAEADMode,
		Digests: f.PGPDigest, KeyAlgorithms: f.PGPKeyAlgo, MinRSABits: f.PGPMinRSABits,
		Compressions: f.PGPCompression, HiddenRecipients: f.PGPHiddenRecipient}
}

// joseAlgFlags are the JOSE algorithm allow-lists. serve and simulate (which
// plays Google) share them, so that their defaults cannot drift apart.
type joseAlgFlags struct {
	JOSEKeyAlg   []string `name:"jose-key-alg" help:"JWE key algorithms accepted; the first is used for what this side sends." default:"RSA1_5"`
	JOSEEnc      []string `name:"jose-enc" help:"JWE content encryptions accepted; the first is used for what this side sends." default:"A128CBC-HS256"`
	JOSESigAlg   []string `name:"jose-sig-alg" help:"JWS signature algorithms accepted; the first is used for what this side sends." default:"RS256"`
	JOSECompress bool     `name:"jose-compress" help:"Compress what this side sends (JWE zip DEF); compressed bodies are always accepted."`
}

// options are the jose.Options of these flags.
func (f joseAlgFlags) options(now func() time.Time) jose.Options {
	return jose.Options{KeyAlgorithms: f.JOSEKeyAlg, ContentEncryptions: f.JOSEEnc,
		SignatureAlgorithms: f.JOSESigAlg, Compress: f.JOSECompress, Now: now}
}

// scheme is the chosen scheme, "" when no keys are configured.
func (f *envelopeFlags) scheme() (string, error) {
	pgpKeys := len(f.PGPKey)+len(f.PGPGoogleKey) > 0
	joseKeys := len(f.JOSEKey)+len(f.JOSEGoogleKey) > 0
	switch {
	case pgpKeys && joseKeys:
		return "", errors.New("give the keys of one scheme: --pgp-key/--pgp-google-key or --jose-key/--jose-google-key")
	case f.Envelope == "pgp" && !pgpKeys, f.Envelope == "jose" && !joseKeys:
		return "", fmt.Errorf("--envelope %s needs --%s-key and --%s-google-key", f.Envelope, f.Envelope, f.Envelope)
	case f.Envelope != "" && (f.Envelope == "pgp") != pgpKeys:
		return "", fmt.Errorf("--envelope %s was given with the other scheme's keys", f.Envelope)
	case pgpKeys:
		return "pgp", nil
	case joseKeys:
		return "jose", nil
	}
	return "", nil
}

// codec loads the keys once and builds the codec; it fails when the key set
// cannot serve now (no usable key to decrypt, sign, verify or encrypt to).
// maxBody (--max-body-bytes) also bounds what a request may decompress to.
// Keys in a token keep its session open until closeTokens, which a caller
// that got a codec calls once the codec is no longer used.
func (f *envelopeFlags) codec(scheme string, now func() time.Time, maxBody int64) (c envelope.Codec, infos []envelope.KeyInfo, err error) {
	f.tokens = hsm.NewTokens(os.Getenv)
	defer func() {
		if err != nil {
			f.closeTokens(nil)
		}
	}()
	return f.newCodec(scheme, now, maxBody)
}

// closeTokens logs out of the tokens of codec's keys and closes their
// sessions; log, when not nil, hears of a failure and of the close.
func (f *envelopeFlags) closeTokens(log *slog.Logger) {
	if f.tokens == nil {
		return
	}
	n := f.tokens.Len()
	err := f.tokens.Close()
	f.tokens = nil
	switch {
	case log == nil || n == 0:
	case err != nil:
		log.Warn("closing the HSM sessions failed", "tokens", n, "error", err)
	default:
		log.Info("HSM sessions closed", "tokens", n)
	}
}

func (f *envelopeFlags) newCodec(scheme string, now func() time.Time, maxBody int64) (envelope.Codec, []envelope.KeyInfo, error) {
	switch scheme {
	case "pgp":
		ours, google, err := loadPGPKeys(f.tokens, f.PGPKey, f.PGPGoogleKey)
		if err != nil {
			return nil, nil, err
		}
		c, err := pgp.New(ours, google, f.pgpAlgFlags.options(now, maxBody))
		if err != nil {
			return nil, nil, err
		}
		if err := c.Check(); err != nil {
			return nil, nil, err
		}
		return c, pgpKeyInfo(c.Keys()), nil
	case "jose":
		ks, err := loadJOSEKeys(f.tokens, f.JOSEKey, f.JOSEGoogleKey)
		if err != nil {
			return nil, nil, err
		}
		opts := f.joseAlgFlags.options(now)
		opts.MaxPlaintext = maxBody
		c, err := jose.New(ks, opts)
		if err != nil {
			return nil, nil, err
		}
		return c, joseKeyInfo(c.Keys()), nil
	}
	return nil, nil, fmt.Errorf("unknown envelope %q", scheme)
}

func pgpKeyInfo(keys []pgp.KeyInfo) []envelope.KeyInfo {
	out := make([]envelope.KeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, envelope.KeyInfo{Scheme: "pgp", Owner: k.Owner, ID: k.Fingerprint, Algorithm: k.Algorithm,
			Usage: k.Usage, Expires: k.Expires, Active: k.Active, ExpiringSoon: k.ExpiringSoon})
	}
	return out
}

func joseKeyInfo(keys []jose.KeyInfo) []envelope.KeyInfo {
	out := make([]envelope.KeyInfo, 0, len(keys))
	for _, k := range keys {
		out = append(out, envelope.KeyInfo{Scheme: "jose", Owner: k.Owner, ID: k.ID, Algorithm: k.Algorithm,
			Usage: k.Usage, Expires: k.Expires, Active: k.Active, ExpiringSoon: k.ExpiringSoon})
	}
	return out
}

// keyLister returns the function that lists a codec's keys as of now.
func keyLister(c envelope.Codec) func() []envelope.KeyInfo {
	switch c := c.(type) {
	case *pgp.Codec:
		return func() []envelope.KeyInfo { return pgpKeyInfo(c.Keys()) }
	case *jose.Codec:
		return func() []envelope.KeyInfo { return joseKeyInfo(c.Keys()) }
	}
	return func() []envelope.KeyInfo { return nil }
}
