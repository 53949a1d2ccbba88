package server_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/otpgate/otpgate/internal/envelope"
	"github.com/otpgate/otpgate/internal/envelope/jose"
	"github.com/otpgate/otpgate/internal/envelope/pgp"
)

// envelopePair is a deployment's codec and Google's matching one.
type envelopePair struct {
	server, google envelope.Codec
	stranger       envelope.Codec // Google's side with a key the deployment does not know
}

var (
	pairsOnce sync.Once
	pairs     map[string]envelopePair
	pairsErr  error
)

// envelopePairs generates RSA-2048 keys once per test binary: ours, Google's
// and a stranger's, for each scheme.
func envelopePairs(t *testing.T) map[string]envelopePair {
	t.Helper()
	pairsOnce.Do(func() { pairs, pairsErr = makePairs() })
	if pairsErr != nil {
		t.Fatal(pairsErr)
	}
	return pairs
}

func makePairs() (map[string]envelopePair, error) {
	now, year := time.Now(), 365*24*time.Hour
	out := map[string]envelopePair{}

	ours, err := pgp.GenerateKey("otpgate", "", 2048, year, now)
	if err != nil {
		return nil, err
	}
	google, err := pgp.GenerateKey("google", "", 2048, year, now)
	if err != nil {
		return nil, err
	}
	stranger, err := pgp.GenerateKey("stranger", "", 2048, year, now)
	if err != nil {
		return nil, err
	}
	oursPublic, err := pgpPublic(ours)
	if err != nil {
		return nil, err
	}
	googlePublic, err := pgpPublic(google)
	if err != nil {
		return nil, err
	}
	var p envelopePair
	if p.server, err = pgp.New(pgpEntities(ours), googlePublic, pgp.Options{}); err != nil {
		return nil, err
	}
	if p.google, err = pgp.New(pgpEntities(google), oursPublic, pgp.Options{}); err != nil {
		return nil, err
	}
	if p.stranger, err = pgp.New(pgpEntities(stranger), oursPublic, pgp.Options{}); err != nil {
		return nil, err
	}
	out["pgp"] = p

	jOurs, err := jose.GenerateKey("ours-1", 2048, jose.UseBoth, year, now)
	if err != nil {
		return nil, err
	}
	jGoogle, err := jose.GenerateKey("google-1", 2048, jose.UseBoth, year, now)
	if err != nil {
		return nil, err
	}
	jStranger, err := jose.GenerateKey("stranger-1", 2048, jose.UseBoth, year, now)
	if err != nil {
		return nil, err
	}
	var j envelopePair
	if j.server, err = jose.New(&jose.KeySet{Ours: []*jose.Key{jOurs}, Google: []*jose.Key{jGoogle.Public()}}, jose.Options{}); err != nil {
		return nil, err
	}
	if j.google, err = jose.New(&jose.KeySet{Ours: []*jose.Key{jGoogle}, Google: []*jose.Key{jOurs.Public()}}, jose.Options{}); err != nil {
		return nil, err
	}
	if j.stranger, err = jose.New(&jose.KeySet{Ours: []*jose.Key{jStranger}, Google: []*jose.Key{jOurs.Public()}}, jose.Options{}); err != nil {
		return nil, err
	}
	out["jose"] = j
	return out, nil
}

// TestFlowsOverEnvelopes runs the OTP flows of both dialects with bodies
// protected as Google protects them, and the envelope's own error rules.
func TestFlowsOverEnvelopes(t *testing.T) {
	for scheme, pair := range envelopePairs(t) {
		t.Run(scheme, func(t *testing.T) {
			h := newHarness(t, withEnvelope(pair.server, pair.google))
			first := h.sendOtp("s1", map[string]any{"associationId": "as-1"})
			expect(t, first, 200, "result", "SUCCESS")
			code := h.lastCode()
			expect(t, h.verifyOtp("v1", "s1", wrongCode(code)), 200, "result", "OTP_NOT_MATCHED")
			expect(t, h.verifyOtp("v2", "s1", code), 200, "result", "SUCCESS")
			expect(t, h.verifyOtp("v3", "s1", code), 200, "result", "OTP_ALREADY_USED")
			again := h.sendOtp("s1", map[string]any{"associationId": "as-1"})
			if again.str("paymentIntegratorSendOtpId") != first.str("paymentIntegratorSendOtpId") || len(h.sms.Messages()) != 1 {
				t.Errorf("the replay differs or sent again: %s", again.raw)
			}
			expect(t, h.sendOtp("s1", map[string]any{"associationId": "as-2"}), 412, "errorResponseCode", "IDEMPOTENCY_VIOLATION")
			expect(t, h.postRaw("/v1/sendOtp", []byte(`{"requestHeader":`)), 400, "errorResponseCode", "INVALID_DECRYPTED_REQUEST")
			expect(t, h.post("/v1/echo", map[string]any{"requestHeader": h.header("e1"), "clientMessage": "ping"}), 200, "clientMessage", "ping")

			expectOneOf(t, h.authenticate("auth-1", "4123456789101112", "01", "30", nil), "nativeOtpResultCase", "nativeOtpSupport")
			expectOneOf(t, h.resend("resend-1", "auth-1"), "result", "success")
			expectOneOf(t, h.cardVerify("cv-1", "auth-1", h.lastCode()), "result", "success")

			// A body in another scheme, or none, is never read as plaintext.
			plain := []byte(fmt.Sprintf(`{"requestHeader":{"protocolVersion":{"major":1},"requestId":"p1","requestTimestamp":"%d"},"clientMessage":"x"}`,
				h.clock.Now().UnixMilli()))
			r := h.postSealed("/v1/echo", "application/json", plain)
			if r.status != http.StatusBadRequest || r.str("errorResponseCode") != "INVALID_PAYLOAD_ENCRYPTION" {
				t.Errorf("a plaintext body: %d %s", r.status, r.raw)
			}
			expect(t, h.postSealed("/v1/echo", pair.google.ContentType(), []byte("garbage")), 400, "errorResponseCode", "INVALID_PAYLOAD_ENCRYPTION")

			// Signed by a key the deployment does not know: 401, empty body.
			sealed, err := pair.stranger.Seal(plain)
			if err != nil {
				t.Fatal(err)
			}
			if r := h.postSealed("/v1/echo", pair.google.ContentType(), sealed); r.status != http.StatusUnauthorized || r.raw != "" {
				t.Errorf("a stranger's signature: %d %q, want 401 and no body", r.status, r.raw)
			}
		})
	}
}

func pgpEntities(es ...*openpgp.Entity) []*openpgp.Entity { return es }

// pgpPublic is the public part of e, as its owner would export it.
func pgpPublic(e *openpgp.Entity) ([]*openpgp.Entity, error) {
	armored, err := pgp.ArmorPublicKey(e)
	if err != nil {
		return nil, err
	}
	return pgp.ParseKeys(armored)
}
