package main

import (
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/alecthomas/kong"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
	"github.com/otpgate/otpgate/internal/hsm"
)

// Our private keys are given as files or as pkcs11: URIs (RFC 7512) naming
// key pairs in an HSM, mixed freely in --pgp-key, --jose-key and the keys
// commands' --key. The PGP public key block (or the JWK) of a key in a token
// is a file named by the URI's x-public-key attribute: `otpgate keys
// generate --pkcs11` writes it. The module and PIN come from the URI's
// module-path and pin-source, or from OTPGATE_PKCS11_MODULE and
// OTPGATE_PKCS11_PIN_FILE / OTPGATE_PKCS11_PIN; never from a flag.

// splitKeyRefs separates key files (expanded as kong's path flags are) from
// pkcs11: URIs.
func splitKeyRefs(refs []string) (files []string, uris []*hsm.URI, err error) {
	for _, r := range refs {
		if !hsm.IsURI(r) {
			files = append(files, kong.ExpandPath(r))
			continue
		}
		u, err := hsm.ParseURI(r)
		if err != nil {
			return nil, nil, err
		}
		uris = append(uris, u)
	}
	return files, uris, nil
}

// loadPGPKeys reads our keys (files or URIs) and Google's public key files.
func loadPGPKeys(tokens *hsm.Tokens, ourRefs, googleFiles []string) (ours, google []*openpgp.Entity, err error) {
	files, uris, err := splitKeyRefs(ourRefs)
	if err != nil {
		return nil, nil, err
	}
	// The tokens first: a binary built without PKCS#11 says so before
	// anything else.
	pairs, err := tokensKeyPairs(tokens, uris)
	if err != nil {
		return nil, nil, err
	}
	ours, google, err = pgp.LoadKeys(files, googleFiles)
	if err != nil {
		return nil, nil, err
	}
	for i, u := range uris {
		if u.PublicKey == "" {
			return nil, nil, fmt.Errorf("pgp: %s: a PGP key in a token needs its public key block: add ?x-public-key=FILE to the URI (the file otpgate keys generate --pkcs11 wrote)", u)
		}
		es, err := pgp.ReadKeyFile(kong.ExpandPath(u.PublicKey), false)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range es {
			if err := pgp.AttachSigners(e, pairs[i]); err != nil {
				return nil, nil, fmt.Errorf("%w (%s)", err, u)
			}
		}
		ours = append(ours, es...)
	}
	return ours, google, nil
}

// tokensKeyPairs opens each URI's token and finds its key pairs; it also
// fails, in a build without PKCS#11, with the message that says how to get
// one.
func tokensKeyPairs(tokens *hsm.Tokens, uris []*hsm.URI) ([][]crypto.Signer, error) {
	out := make([][]crypto.Signer, len(uris))
	for i, u := range uris {
		tk, err := tokens.Open(u)
		if err != nil {
			return nil, err
		}
		if out[i], err = tk.KeyPairs(u); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadJOSEKeys reads our keys (files or URIs) and Google's public key files.
// A key in a token takes its kid, use, alg and exp from the public JWK of
// x-public-key when the URI names one; otherwise its kid is the object
// label, it may sign and encrypt, and it does not expire.
func loadJOSEKeys(tokens *hsm.Tokens, ourRefs, googleFiles []string) (*jose.KeySet, error) {
	files, uris, err := splitKeyRefs(ourRefs)
	if err != nil {
		return nil, err
	}
	allPairs, err := tokensKeyPairs(tokens, uris)
	if err != nil {
		return nil, err
	}
	ks, err := jose.LoadKeys(files, googleFiles)
	if err != nil {
		return nil, err
	}
	for i, u := range uris {
		pairs := allPairs[i]
		if len(pairs) != 1 {
			return nil, fmt.Errorf("jose: %s names %d key pairs; name one (add id=)", u, len(pairs))
		}
		var k *jose.Key
		if u.PublicKey == "" {
			if u.Object == "" {
				return nil, fmt.Errorf("jose: %s: without x-public-key, the object label is the kid: add object=", u)
			}
			k, err = jose.NewExternalKey(u.Object, jose.UseBoth, "", time.Time{}, pairs[0])
		} else {
			k, err = joseKeyFromFile(kong.ExpandPath(u.PublicKey), pairs[0])
		}
		if err != nil {
			return nil, fmt.Errorf("%w (%s)", err, u)
		}
		ks.Ours = append(ks.Ours, k)
	}
	return ks, nil
}

// noExpiryKnown reports, for loadJOSEKeys' refs, which of our JOSE keys
// are in a token without x-public-key: nothing says when they expire, so
// they list as never expiring and no expiry alert can fire for them. It
// is kept apart from the keys, which carry no such flag, and matched by
// kid, which for these keys is the object label.
func noExpiryKnown(refs []string) func(envelope.KeyInfo) bool {
	kids := map[string]bool{}
	for _, r := range refs {
		if !hsm.IsURI(r) {
			continue
		}
		if u, err := hsm.ParseURI(r); err == nil && u.PublicKey == "" && u.Object != "" {
			kids[u.Object] = true
		}
	}
	return func(k envelope.KeyInfo) bool {
		return k.Scheme == "jose" && k.Owner == jose.OwnerOurs && k.Expires.IsZero() && kids[k.ID]
	}
}

// noExpiryWarning is what keys list, doctor and serve say of such a key.
func noExpiryWarning(kid string) string {
	return fmt.Sprintf("jose key %s is in a token without x-public-key: no expiry known, so the expiry alert cannot protect this key; "+
		"give its URI ?x-public-key=FILE, a public JWK with exp (keys generate --pkcs11 writes one), and rotate it in time", kid)
}

// joseKeyFromFile is the key of the public JWK (or JWKS) file that is s's.
func joseKeyFromFile(path string, s crypto.Signer) (*jose.Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("jose: %w", err)
	}
	keys, err := jose.ParseJWKs(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	var errs []error
	for _, k := range keys {
		withSigner, err := k.WithSigner(s)
		if err == nil {
			return withSigner, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("jose: %s: no key in it is the token's: %w", path, errors.Join(errs...))
}

// generateInToken is `keys generate --pkcs11`: the key pairs are made inside
// the token and never leave it; only the public part is written, to out.
func (c *keysGenerateCmd) generateInToken(now time.Time) error {
	u, err := hsm.ParseURI(c.PKCS11)
	if err != nil {
		return err
	}
	if u.PublicKey != "" {
		return fmt.Errorf("--pkcs11 %s: x-public-key names the public key file to read when serving; here --out names where to write it", u)
	}
	if u.Object == "" || len(u.ID) > 0 {
		return fmt.Errorf("--pkcs11 %s: name the new key by object=LABEL alone (its key pairs get random ids)", u)
	}
	// Take --out before making anything: a key pair made in the token
	// cannot be made again under its label, so a taken --out found only
	// afterwards would leave a key nobody has the public part of.
	out, err := createNewFile(c.Out, 0o644)
	if err != nil {
		return err
	}
	tokens := hsm.NewTokens(os.Getenv)
	defer tokens.Close()
	// A failure after a key pair was made deletes it, so that a retry
	// under the same label is not refused by what a failure left, and no
	// key stays in the token without the public part to use it.
	var made []crypto.Signer
	var tk *hsm.Token
	written := false
	defer func() {
		if written {
			return
		}
		out.Close()
		os.Remove(c.Out)
		for _, s := range made {
			if err := tk.Delete(s); err != nil {
				fmt.Fprintf(os.Stderr, "otpgate: a key pair labelled %q made before the failure could not be deleted from token %s: %v; delete it with your HSM's tools\n",
					u.Object, u.TokenName(), err)
			}
		}
	}()
	tk, err = tokens.Open(u)
	if err != nil {
		return err
	}
	if existing, err := tk.KeyPairs(u); err == nil {
		return fmt.Errorf("--pkcs11 %s: the token already holds %d key pair(s) labelled %q; keys are never replaced: choose another object=", u, len(existing), u.Object)
	}
	gen := func(use hsm.Usage) (crypto.Signer, error) {
		id := make([]byte, 8)
		if _, err := rand.Read(id); err != nil {
			return nil, err
		}
		s, err := generateRSA(tk, u.Object, id, c.Bits, use)
		if err == nil {
			made = append(made, s)
		}
		return s, err
	}
	var public []byte
	switch c.Scheme {
	case "pgp":
		signer, err := gen(hsm.Usage{Sign: true})
		if err != nil {
			return err
		}
		decrypter, err := gen(hsm.Usage{Decrypt: true})
		if err != nil {
			return err
		}
		e, err := pgp.GenerateExternalKey(c.Name, c.Email, c.Lifetime, now, signer, decrypter.(crypto.Decrypter))
		if err != nil {
			return err
		}
		if public, err = pgp.ArmorPublicKey(e); err != nil {
			return err
		}
		printKeys(os.Stdout, pgpKeyInfo(pgp.DescribeKeys([]*openpgp.Entity{e}, pgp.OwnerOurs, now)))
	case "jose":
		s, err := gen(hsm.Usage{Sign: true, Decrypt: true})
		if err != nil {
			return err
		}
		kid := c.KID
		if kid == "" {
			kid = u.Object
		}
		var expires time.Time
		if c.Lifetime > 0 {
			expires = time.Unix(now.Add(c.Lifetime).Unix(), 0).UTC()
		}
		k, err := jose.NewExternalKey(kid, jose.UseBoth, "", expires, s)
		if err != nil {
			return err
		}
		if public, err = jose.PublicJWKS(k); err != nil {
			return err
		}
		printKeys(os.Stdout, joseKeyInfo((&jose.KeySet{Ours: []*jose.Key{k}}).Info(now)))
	}
	if _, err := out.Write(public); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	written = true
	sep := "?"
	if strings.Contains(u.String(), "?") {
		sep = "&"
	}
	ref := u.String() + sep + "x-public-key=" + uriEscaper.Replace(c.Out)
	fmt.Printf("\nmade a %s key in token %s (sensitive, not extractable); its public part is in %s\n", c.Scheme, u.TokenName(), c.Out)
	fmt.Printf("Serve with it:        otpgate serve --%s-key '%s' …\n", c.Scheme, ref)
	fmt.Printf("Give Google its public part: %s\n", c.Out)
	return nil
}

// generateRSA is hsm.Token.GenerateRSA; a test replaces it to fail the
// second key pair of a PGP key.
var generateRSA = (*hsm.Token).GenerateRSA

// uriEscaper percent-encodes what may not stand in a pkcs11: URI's
// attribute value (RFC 7512 §2.3).
var uriEscaper = strings.NewReplacer("%", "%25", ";", "%3B", "?", "%3F", "&", "%26", " ", "%20", "'", "%27")

// createNewFile creates a file that must not exist yet.
func createNewFile(path string, mode os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%s exists: key files are never overwritten; choose another --out", path)
	}
	return f, err
}
