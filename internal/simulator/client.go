package simulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/internal/envelope"
)

// Paths of Google's methods on the standard and India Cards surfaces,
// relative to the target (which includes any base path of the deployment).
// Surface.Path gives those of every surface.
const (
	PathSendOtp       = "/v1/sendOtp"
	PathVerifyOtp     = "/v1/verifyOtp"
	PathEcho          = "/v1/echo"
	cardsPrefix       = "/v1/payment-integrator-authenticated-card-fop-api/"
	PathAuthenticate  = cardsPrefix + "authenticate"
	PathCardVerifyOtp = cardsPrefix + "verifyOtp"
	PathResendOtp     = cardsPrefix + "resendOtp"
	PathEchoV2        = "/v2/echo"
)

// maxResponseBytes bounds what the client reads of one response.
const maxResponseBytes = 1 << 20

// Config builds a Client.
type Config struct {
	// Target is the deployment's base URL, with its base path if it has one:
	// http://127.0.0.1:8080 or https://otp.example.com/google.
	Target string
	// Codec is Google's side of the envelope: Seal protects a request as
	// Google does (signs with Google's key, encrypts to the integrator's)
	// and Open reads the integrator's answer (decrypts with Google's key,
	// verifies the integrator's signature), failing with
	// envelope.ErrUndecryptable or envelope.ErrBadSignature. For the pgp and
	// jose packages that is a Codec built the other way round from the
	// server's: Google's private key as "ours", the integrator's public key
	// as "Google's". Nil means envelope.Plain{}.
	Codec envelope.Codec
	// PIAID is the paymentIntegratorAccountId of current-dialect requests.
	PIAID string
	// HTTPClient sends the requests; nil means a client with a 30 s timeout
	// that keeps up to MaxConns connections to the target alive.
	HTTPClient *http.Client
	// MaxConns is the keep-alive pool of the default HTTP client (at least 8).
	MaxConns int
	// Now stamps requestTimestamps; nil means time.Now.
	Now func() time.Time
}

// Client plays Google against one otpgate deployment: it builds the requests
// of both dialects with fresh requestIds and current timestamps, protects
// them with Google's side of the envelope and reads the answers back through
// it. It is safe for concurrent use.
type Client struct {
	target string
	codec  envelope.Codec
	piaid  string
	http   *http.Client
	now    func() time.Time
	run    string
	seq    atomic.Uint64
}

// New checks cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(cfg.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("simulator: target %q: want an http:// or https:// URL", cfg.Target)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("simulator: target %q: no query or fragment, only a base path", cfg.Target)
	}
	c := &Client{target: strings.TrimSuffix(cfg.Target, "/"), codec: cfg.Codec, piaid: cfg.PIAID,
		http: cfg.HTTPClient, now: cfg.Now, run: newRunID()}
	if c.codec == nil {
		c.codec = envelope.Plain{}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.http == nil {
		conns := max(cfg.MaxConns, 8)
		c.http = &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				Proxy:               http.ProxyFromEnvironment,
				MaxIdleConns:        conns,
				MaxIdleConnsPerHost: conns,
				IdleConnTimeout:     90 * time.Second,
				TLSHandshakeTimeout: 10 * time.Second,
				DisableCompression:  true,
				ForceAttemptHTTP2:   true,
			},
		}
	}
	return c, nil
}

// Target is the base URL requests go to.
func (c *Client) Target() string { return c.target }

// Codec is Google's side of the envelope.
func (c *Client) Codec() envelope.Codec { return c.codec }

// PIAID is the paymentIntegratorAccountId of current-dialect requests.
func (c *Client) PIAID() string { return c.piaid }

// Run identifies this client's requests: every requestId starts with
// "sim-RUN-".
func (c *Client) Run() string { return c.run }

// Now is the client's clock.
func (c *Client) Now() time.Time { return c.now() }

// Plaintext reports whether the client speaks plain JSON.
func (c *Client) Plaintext() bool { return c.codec.Name() == (envelope.Plain{}).Name() }

var runEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newRunID() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return runEncoding.EncodeToString(b)
}

// NewRequestID returns a requestId never used before: "sim-RUN-SEQ-label",
// within Google's rules (1 to 100 of [A-Za-z0-9:_-]) for a label of at most
// 60 such characters.
func (c *Client) NewRequestID(label string) string {
	id := "sim-" + c.run + "-" + strconv.FormatUint(c.seq.Add(1), 10)
	if label != "" {
		id += "-" + label
	}
	return id
}

// NewSMSMatchingToken returns an 11-letter smsMatchingToken, as Google sends
// with every sendOtp. Letters only, so that no digit of it is ever taken for
// the code.
func NewSMSMatchingToken() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 11)
	for i := range b {
		b[i] = letters[mrand.IntN(len(letters))]
	}
	return string(b)
}

// millis formats t as Google's epoch milliseconds string.
func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// LegacyHeader is a legacy-dialect requestHeader stamped now.
func (c *Client) LegacyHeader(requestID string) map[string]any {
	return map[string]any{
		"protocolVersion":  map[string]any{"major": 1, "minor": 0, "revision": 0},
		"requestId":        requestID,
		"requestTimestamp": millis(c.now()),
	}
}

// CurrentHeader is a current-dialect (India Cards) requestHeader stamped now,
// with protocolVersion.major major and the client's PIAID.
func (c *Client) CurrentHeader(requestID string, major int) map[string]any {
	return map[string]any{
		"protocolVersion":            map[string]any{"major": major},
		"requestId":                  requestID,
		"requestTimestamp":           map[string]any{"epochMillis": millis(c.now())},
		"paymentIntegratorAccountId": c.piaid,
	}
}

// Account names the account of a sendOtp: by phone, by association id, or
// both.
type Account struct {
	Phone         string
	AssociationID string
}

// SendOtpBody is a sendOtp request with a fresh smsMatchingToken.
func (c *Client) SendOtpBody(requestID string, a Account) map[string]any {
	body := map[string]any{"requestHeader": c.LegacyHeader(requestID), "smsMatchingToken": NewSMSMatchingToken()}
	if a.Phone != "" {
		body["accountPhoneNumber"] = a.Phone
	}
	if a.AssociationID != "" {
		body["associationId"] = a.AssociationID
	}
	return body
}

// VerifyOtpBody is a legacy verifyOtp request.
func (c *Client) VerifyOtpBody(requestID, sendOtpRequestID, otp string) map[string]any {
	return map[string]any{"requestHeader": c.LegacyHeader(requestID), "sendOtpRequestId": sendOtpRequestID, "otp": otp}
}

// EchoBody is a legacy /v1/echo request.
func (c *Client) EchoBody(requestID, message string) map[string]any {
	return map[string]any{"requestHeader": c.LegacyHeader(requestID), "clientMessage": message}
}

// EchoV2Body is a current-dialect /v2/echo request.
func (c *Client) EchoV2Body(requestID, message string) map[string]any {
	return map[string]any{"requestHeader": c.CurrentHeader(requestID, 2), "clientMessage": message}
}

// AuthenticateBody is an India Cards authenticate asking for a native OTP for
// a purchase with card.
func (c *Client) AuthenticateBody(requestID string, card FixtureCard) map[string]any {
	return c.authenticateBody(requestID, map[string]any{"card": map[string]any{
		"accountNumber": card.Number, "nameOnCard": "Simulated Customer",
		"expiryMonth": card.ExpiryMonth, "expiryYear": shortYear(card.ExpiryYear), "cvn": "123"}})
}

// AuthenticateTokenBody is an India Cards authenticate asking for a native
// OTP for a purchase with a tokenized card (accountDetails.paymentToken,
// SPEC §8): token is the payment token, last4 the last four digits of the
// card it stands for. A token without an expiry is sent without one.
func (c *Client) AuthenticateTokenBody(requestID string, token FixtureCard, last4 string) map[string]any {
	return c.authenticateBody(requestID, map[string]any{"paymentToken": paymentToken(token, last4)})
}

// paymentToken is accountDetails.paymentToken for token.
func paymentToken(token FixtureCard, last4 string) map[string]any {
	pt := map[string]any{"nameOnCard": "Simulated Customer", "paymentTokenAccountNumber": token.Number,
		"cryptogram": "AgAAAAAABk4DWZ4C28yUQAAAAAA=", "last4DigitsOnCard": last4}
	if token.ExpiryMonth != "" {
		pt["expiryMonth"], pt["expiryYear"] = token.ExpiryMonth, shortYear(token.ExpiryYear)
	}
	return pt
}

func (c *Client) authenticateBody(requestID string, accountDetails map[string]any) map[string]any {
	return map[string]any{
		"requestHeader":  c.CurrentHeader(requestID, 1),
		"accountDetails": accountDetails,
		"amount":         map[string]any{"amountMicros": "728000000", "currencyCode": "INR"},
		"requestedAuthenticationTypes": map[string]any{
			"nativeOtp": map[string]any{"deviceInformation": map[string]any{"userAgent": "otpgate-simulator"}}},
	}
}

// shortYear writes a four-digit year in two, as Google's examples do.
func shortYear(year string) string {
	if len(year) == 4 {
		return year[2:]
	}
	return year
}

// CardVerifyOtpBody is an India Cards verifyOtp request.
func (c *Client) CardVerifyOtpBody(requestID, authenticateRequestID, otp string) map[string]any {
	return map[string]any{"requestHeader": c.CurrentHeader(requestID, 1), "authenticateRequestId": authenticateRequestID, "otp": otp}
}

// ResendOtpBody is an India Cards resendOtp request.
func (c *Client) ResendOtpBody(requestID, authenticateRequestID string) map[string]any {
	return map[string]any{"requestHeader": c.CurrentHeader(requestID, 1), "authenticateRequestId": authenticateRequestID}
}

// Post marshals body (a []byte is sent as it is), protects it with the
// client's codec and posts it to path. The error is for a request that could
// not be made or answered at all; every answer, even one whose body does not
// open, is a Response.
func (c *Client) Post(ctx context.Context, path string, body any) (*Response, error) {
	return c.PostWith(ctx, c.codec, path, body)
}

// PostWith is Post with another codec sealing the request (a stranger's
// signature, a wrong recipient); the answer is still read with the client's.
func (c *Client) PostWith(ctx context.Context, sealer envelope.Codec, path string, body any) (*Response, error) {
	plaintext, ok := body.([]byte)
	if !ok {
		var err error
		if plaintext, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("simulator: encoding the request: %w", err)
		}
	}
	sealed, err := sealer.Seal(plaintext)
	if err != nil {
		return nil, fmt.Errorf("simulator: sealing the request (%s): %w", sealer.Name(), err)
	}
	r, err := c.PostSealed(ctx, path, sealed, sealer.ContentType())
	if r != nil {
		r.Request = plaintext
	}
	return r, err
}

// PostSealed posts body exactly as given, with contentType.
func (c *Client) PostSealed(ctx context.Context, path string, body []byte, contentType string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.target+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	req.Header.Set("Content-Type", contentType)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	latency := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("reading the %d answer: %w", resp.StatusCode, err)
	}
	r := &Response{Path: path, Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"),
		Sealed: raw, Latency: latency}
	if len(raw) > 0 {
		r.Plain, r.OpenErr = c.codec.Open(raw)
		if r.OpenErr == nil {
			if err := json.Unmarshal(r.Plain, &r.Body); err != nil {
				r.Body = nil
			}
		}
	}
	return r, nil
}

// OpenFailure names how a response body failed to open: "bad signature",
// "undecryptable" or the error itself.
func OpenFailure(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, envelope.ErrBadSignature):
		return "bad signature"
	case errors.Is(err, envelope.ErrUndecryptable):
		return "undecryptable"
	default:
		return err.Error()
	}
}
