package pgp

import (
	"bytes"
	"errors"
	"fmt"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// selfTestProbe is what SelfTest seals and opens.
var selfTestProbe = []byte(`{"otpgate":"self-test"}`)

// SelfTest puts a probe through the private-key operations that requests
// and answers use, with our own public keys standing in for Google's: it
// seals the probe, signed by every active signing key of ours and encrypted
// to our keys, and opens it again, decrypting and verifying. It does so once
// with all our keys and once with each key pair that both signs and
// decrypts, so that each of those keys decrypts once. A key held in a token
// is exercised in the token. `otpgate serve --check` runs it before a
// rollout: a key that parses but cannot sign or decrypt (a token that
// refuses, a damaged secret) fails here rather than on Google's first
// request.
func (c *Codec) SelfTest() error {
	now := c.cfg.Now()
	errs := []error{c.mirror(c.ours).roundTrip("our keys")}
	if len(c.ours) > 1 {
		for _, e := range c.ours {
			if len(decryptionKeys(e, now, c.cfg)) > 0 && len(c.mirror([]*openpgp.Entity{e}).signers(now)) > 0 {
				errs = append(errs, c.mirror([]*openpgp.Entity{e}).roundTrip(fmt.Sprintf("key %X", e.PrimaryKey.Fingerprint)))
			}
		}
	}
	return errors.Join(errs...)
}

// mirror is c with ours as both sides: what it seals, it can open.
func (c *Codec) mirror(ours []*openpgp.Entity) *Codec {
	m := *c
	m.ours, m.google = ours, ours
	m.oursByID, m.googleByID = map[uint64][]*openpgp.Entity{}, map[uint64][]*openpgp.Entity{}
	m.googleFPR = map[string]bool{}
	for _, e := range ours {
		index(m.oursByID, e)
		index(m.googleByID, e)
		m.googleFPR[string(e.PrimaryKey.Fingerprint)] = true
	}
	return &m
}

func (c *Codec) roundTrip(what string) error {
	sealed, err := c.Seal(selfTestProbe)
	if err != nil {
		return fmt.Errorf("pgp: %s: sealing a probe: %w", what, err)
	}
	opened, err := c.Open(sealed)
	if err != nil {
		return fmt.Errorf("pgp: %s: opening the probe they sealed: %w", what, err)
	}
	if !bytes.Equal(opened, selfTestProbe) {
		return fmt.Errorf("pgp: %s: the probe came back changed", what)
	}
	return nil
}
