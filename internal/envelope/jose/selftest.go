package jose

import (
	"bytes"
	"errors"
	"fmt"
)

// selfTestProbe is what SelfTest seals and opens.
var selfTestProbe = []byte(`{"otpgate":"self-test"}`)

// SelfTest puts a probe through the private-key operations that requests
// and answers use, with the public parts of our own keys standing in for
// Google's: it seals the probe (signed by our newest signing key, encrypted
// to our newest encryption key) and opens it again, decrypting and
// verifying; then the same with each key of ours that both signs and
// decrypts, so that each of those is exercised. A key held in a token is
// exercised in the token. `otpgate serve --check` runs it before a rollout.
func (c *Codec) SelfTest() error {
	errs := []error{c.mirror(c.keys.Ours).roundTrip("our keys")}
	if len(c.keys.Ours) > 1 {
		for _, k := range c.keys.Ours {
			if k.Use == UseBoth && !k.expired(c.now()) {
				errs = append(errs, c.mirror([]*Key{k}).roundTrip(fmt.Sprintf("key %q", k.ID)))
			}
		}
	}
	return errors.Join(errs...)
}

// mirror is c with ours on our side and their public parts on Google's.
func (c *Codec) mirror(ours []*Key) *Codec {
	m := *c
	m.keys = KeySet{Ours: ours}
	for _, k := range ours {
		m.keys.Google = append(m.keys.Google, k.Public())
	}
	return &m
}

func (c *Codec) roundTrip(what string) error {
	sealed, err := c.Seal(selfTestProbe)
	if err != nil {
		return fmt.Errorf("jose: %s: sealing a probe: %w", what, err)
	}
	opened, err := c.Open(sealed)
	if err != nil {
		return fmt.Errorf("jose: %s: opening the probe they sealed: %w", what, err)
	}
	if !bytes.Equal(opened, selfTestProbe) {
		return fmt.Errorf("jose: %s: the probe came back changed", what)
	}
	return nil
}
