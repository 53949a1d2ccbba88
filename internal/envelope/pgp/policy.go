package pgp

import (
	"crypto"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// The algorithm allow-lists of Options take these names (case does not
// matter). Only modern algorithms can be listed at all: CAST5, 3DES, IDEA,
// SHA-1, MD5, DSA and ElGamal cannot be configured, as JOSE's "none" and
// "dir" cannot. The defaults are what SPEC §5 and Google's PGP guide ask for.
var (
	cipherByName = map[string]packet.CipherFunction{
		"AES128": packet.CipherAES128, "AES192": packet.CipherAES192, "AES256": packet.CipherAES256,
	}
	aeadModeByName = map[string]packet.AEADMode{
		"OCB": packet.AEADModeOCB, "EAX": packet.AEADModeEAX, "GCM": packet.AEADModeGCM,
	}
	digestByName = map[string]crypto.Hash{
		"SHA256": crypto.SHA256, "SHA384": crypto.SHA384, "SHA512": crypto.SHA512,
		"SHA3-256": crypto.SHA3_256, "SHA3-512": crypto.SHA3_512,
	}
	// RSA stands for RFC 4880's three RSA IDs (sign+encrypt, and the
	// deprecated encrypt-only and sign-only).
	keyAlgorithmByName = map[string]packet.PublicKeyAlgorithm{
		"RSA": packet.PubKeyAlgoRSA, "ECDSA": packet.PubKeyAlgoECDSA, "ECDH": packet.PubKeyAlgoECDH,
		"EDDSA": packet.PubKeyAlgoEdDSA, "ED25519": packet.PubKeyAlgoEd25519, "X25519": packet.PubKeyAlgoX25519,
		"ED448": packet.PubKeyAlgoEd448, "X448": packet.PubKeyAlgoX448,
	}
	compressionByName = map[string]packet.CompressionAlgo{
		"ZIP": packet.CompressionZIP, "ZLIB": packet.CompressionZLIB, "BZIP2": compressionBZIP2,
	}
)

// compressionBZIP2 is RFC 4880's BZip2, which go-crypto reads but names no
// constant for.
const compressionBZIP2 packet.CompressionAlgo = 3

// Defaults of the allow-lists in Options.
var (
	// DefaultCiphers: AES in every key size. Google encrypts with AES-256.
	DefaultCiphers = []string{"AES256", "AES192", "AES128"}
	// DefaultAEADModes: every AEAD mode go-crypto reads, for SEIPD v2
	// (RFC 9580). SEIPD v1 with MDC is always accepted.
	DefaultAEADModes = []string{"OCB", "EAX", "GCM"}
	// DefaultDigests: SHA-2 from 256 bits. Google signs with SHA-384.
	DefaultDigests = []string{"SHA384", "SHA512", "SHA256"}
	// DefaultKeyAlgorithms: RSA only. Google's guide requires RSA keys of
	// 2048 bits or more, and Google's own keys are RSA; curve keys can be
	// listed, but none is accepted unless listed.
	DefaultKeyAlgorithms = []string{"RSA"}
	// DefaultCompressions: ZIP and ZLIB (and no compression, always).
	// BZIP2 is left out: decompressing a 40 KB BZip2 stream costs about
	// as much CPU as two RSA-2048 decryptions, whatever it expands to.
	DefaultCompressions = []string{"ZIP", "ZLIB"}
)

// None, as the only entry of Options.AEADModes or Options.Compressions,
// accepts no AEAD (SEIPD v1 with MDC only) or no compression.
const None = "none"

// policy is what Open accepts, resolved from Options once.
type policy struct {
	ciphers      map[packet.CipherFunction]bool
	aeadModes    map[packet.AEADMode]bool
	digests      map[crypto.Hash]bool
	keyAlgos     map[packet.PublicKeyAlgorithm]bool
	compressions map[packet.CompressionAlgo]bool
	minRSABits   int
	hidden       bool
	// Configured names, for errors.
	cipherNames, aeadNames, digestNames, keyAlgoNames, compressionNames string
}

func newPolicy(opts Options) (*policy, error) {
	p := &policy{minRSABits: opts.MinRSABits, hidden: opts.HiddenRecipients}
	var err error
	if p.ciphers, p.cipherNames, err = allowList("cipher", opts.Ciphers, DefaultCiphers, cipherByName, false); err != nil {
		return nil, err
	}
	if p.aeadModes, p.aeadNames, err = allowList("AEAD mode", opts.AEADModes, DefaultAEADModes, aeadModeByName, true); err != nil {
		return nil, err
	}
	if p.digests, p.digestNames, err = allowList("digest", opts.Digests, DefaultDigests, digestByName, false); err != nil {
		return nil, err
	}
	if p.compressions, p.compressionNames, err = allowList("compression", opts.Compressions, DefaultCompressions, compressionByName, true); err != nil {
		return nil, err
	}
	p.compressions[packet.CompressionNone] = true
	if p.keyAlgos, p.keyAlgoNames, err = allowList("public-key algorithm", opts.KeyAlgorithms, DefaultKeyAlgorithms, keyAlgorithmByName, false); err != nil {
		return nil, err
	}
	if p.keyAlgos[packet.PubKeyAlgoRSA] {
		p.keyAlgos[packet.PubKeyAlgoRSAEncryptOnly] = true
		p.keyAlgos[packet.PubKeyAlgoRSASignOnly] = true
	}
	switch {
	case p.minRSABits == 0:
		p.minRSABits = MinRSABits
	case p.minRSABits < MinRSABits:
		return nil, fmt.Errorf("pgp: minimum RSA key size %d is below %d, the least SPEC §5 and Google accept", p.minRSABits, MinRSABits)
	case p.minRSABits > MaxRSABits:
		return nil, fmt.Errorf("pgp: minimum RSA key size %d is above %d, the largest key this server handles", p.minRSABits, MaxRSABits)
	}
	return p, nil
}

// allowList resolves configured names (or the defaults, when none are
// given) against a table; with noneOK, the single name "none" stands for an
// empty list. It returns the set and the canonical names, for errors.
func allowList[T comparable](what string, configured, defaults []string, table map[string]T, noneOK bool) (map[T]bool, string, error) {
	if len(configured) == 0 {
		configured = defaults
	}
	set := make(map[T]bool)
	if noneOK && len(configured) == 1 && strings.EqualFold(configured[0], None) {
		return set, None, nil
	}
	var names []string
	for _, name := range configured {
		v, ok := table[strings.ToUpper(strings.TrimSpace(name))]
		if !ok {
			known := slices.Sorted(maps.Keys(table))
			if noneOK {
				known = append(known, None)
			}
			return nil, "", fmt.Errorf("pgp: %s %q is not supported; choose from %s", what, name, strings.Join(known, ", "))
		}
		if !set[v] {
			set[v] = true
			names = append(names, strings.ToUpper(strings.TrimSpace(name)))
		}
	}
	return set, strings.Join(names, ", "), nil
}

// checkKey refuses a public key (or subkey) whose algorithm is not listed,
// or an RSA key below the minimum size.
func (p *policy) checkKey(pk *packet.PublicKey) error {
	if !p.keyAlgos[pk.PubKeyAlgo] {
		return fmt.Errorf("key %s is %s, not an accepted algorithm (%s)", pk.KeyIdString(), algorithm(pk), p.keyAlgoNames)
	}
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSAEncryptOnly, packet.PubKeyAlgoRSASignOnly:
		if bits, err := pk.BitLength(); err != nil || int(bits) < p.minRSABits {
			return fmt.Errorf("RSA key %s has %d bits, at least %d are required", pk.KeyIdString(), bits, p.minRSABits)
		}
	}
	return nil
}

// configure makes go-crypto enforce the same rules where it looks at keys
// and message signatures itself, so that the checks of this package are a
// second line rather than the only one.
func (p *policy) configure(cfg *packet.Config) {
	cfg.MinRSABits = uint16(p.minRSABits)
	cfg.RejectPublicKeyAlgorithms = make(map[packet.PublicKeyAlgorithm]bool)
	for a := packet.PublicKeyAlgorithm(1); a < 128; a++ {
		if !p.keyAlgos[a] {
			cfg.RejectPublicKeyAlgorithms[a] = true
		}
	}
	cfg.RejectMessageHashAlgorithms = make(map[crypto.Hash]bool)
	for h := crypto.MD4; h <= crypto.BLAKE2b_512; h++ {
		if !p.digests[h] {
			cfg.RejectMessageHashAlgorithms[h] = true
		}
	}
}

// cipherName names a symmetric algorithm ID of RFC 4880 §9.2.
func cipherName(c packet.CipherFunction) string {
	switch c {
	case 1:
		return "IDEA"
	case packet.Cipher3DES:
		return "3DES"
	case packet.CipherCAST5:
		return "CAST5"
	case 4:
		return "Blowfish"
	case packet.CipherAES128:
		return "AES128"
	case packet.CipherAES192:
		return "AES192"
	case packet.CipherAES256:
		return "AES256"
	case 10:
		return "Twofish"
	case 11, 12, 13:
		return fmt.Sprintf("Camellia%d", 128+64*(int(c)-11))
	}
	return fmt.Sprintf("cipher %d", c)
}

func aeadModeName(m packet.AEADMode) string {
	for name, v := range aeadModeByName {
		if v == m {
			return name
		}
	}
	return fmt.Sprintf("AEAD mode %d", m)
}

func compressionName(a packet.CompressionAlgo) string {
	for name, v := range compressionByName {
		if v == a {
			return name
		}
	}
	return fmt.Sprintf("compression %d", a)
}

func digestName(h crypto.Hash) string { return h.String() }
