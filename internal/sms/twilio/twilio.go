// Package twilio sends SMS through Twilio's Programmable Messaging REST API
// with plain net/http, and verifies the status callbacks Twilio posts back.
//
// One message is one request, as Twilio's Messages resource documents it
// (https://www.twilio.com/docs/messaging/api/message-resource, "Create a
// Message resource"):
//
//	POST https://api.twilio.com/2010-04-01/Accounts/{AccountSid}/Messages.json
//	Authorization: Basic base64(AccountSid:AuthToken)
//	Content-Type: application/x-www-form-urlencoded
//
//	To=+15558675310&Body=…&From=+15557122661   (or MessagingServiceSid=MG…)
//	                &StatusCallback=https://…    (optional)
//
// answered 201 Created with the new Message as JSON ({"sid": "SM…",
// "status": "queued", …}), or with an error body {"code": 21211,
// "message": …, "more_info": …, "status": 400}
// (https://www.twilio.com/docs/usage/twilios-response,
// https://www.twilio.com/docs/api/errors/400). HTTP Basic authentication
// with the Account SID as user name and the Auth Token as password is
// https://www.twilio.com/docs/iam/api ("Our API: the basics").
package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/sms"
)

// Defaults of Config.
const (
	DefaultName    = "twilio"
	DefaultBaseURL = "https://api.twilio.com"
	DefaultTimeout = 10 * time.Second
)

// apiVersion is the version of Twilio's REST API whose Messages resource
// this package speaks.
const apiVersion = "2010-04-01"

// maxBody bounds how much of Twilio's answer is read: a Message or an
// error is a few hundred bytes.
const maxBody = 64 << 10

// maxBodyChars is the longest Body Twilio accepts: "The Body parameter for
// an outgoing message can be up to 1,600 characters"
// (https://www.twilio.com/docs/api/errors/21617).
const maxBodyChars = 1600

// Config describes one Twilio account and the sender it texts from.
type Config struct {
	Name string // what Name returns, for metrics and logs; default "twilio"

	// AccountSID is the account's SID, "AC" and 32 hexadecimal digits
	// (https://www.twilio.com/docs/glossary/what-is-a-sid).
	AccountSID string
	// AuthToken is the account's Auth Token, which the caller reads from
	// a file or the environment. It is the HTTP Basic password of every
	// request and the key of status callback signatures; it appears in no
	// error and no log.
	AuthToken string

	// Exactly one of From and MessagingServiceSID. From is a Twilio phone
	// number in E.164, a short code or an alphanumeric sender ID;
	// MessagingServiceSID is "MG" and 32 hexadecimal digits
	// (https://www.twilio.com/docs/api/errors/21705).
	From                string
	MessagingServiceSID string

	// StatusCallbackURL, when set, is sent as each message's
	// StatusCallback: Twilio posts the message's status changes there
	// (see CallbackHandler). An absolute http or https URL whose host
	// has no underscore: "URL must contain a valid hostname and
	// underscores are not allowed" (Messages resource, StatusCallback).
	StatusCallbackURL string

	// BaseURL replaces https://api.twilio.com, for tests and for Twilio's
	// regional edges. Scheme and host, optionally a path prefix.
	BaseURL string

	// HTTPClient, when set, is used as it is. Nil means a client of our
	// own that does not follow redirects: a redirected POST would become a
	// GET without the message.
	HTTPClient *http.Client
	// Timeout bounds one Send from the first byte to Twilio's answer;
	// default 10s. A timeout after the request was written is an
	// OutcomeUnknown error: Twilio may have created the message.
	Timeout time.Duration
}

// String describes c without its Auth Token.
func (c Config) String() string {
	via := "From " + c.From
	if c.MessagingServiceSID != "" {
		via = "MessagingServiceSid " + c.MessagingServiceSID
	}
	return fmt.Sprintf("twilio.Config{Name: %q, AccountSID: %q, AuthToken: [redacted], %s}", c.Name, c.AccountSID, via)
}

// GoString is String, so that %#v does not print the Auth Token either.
func (c Config) GoString() string { return c.String() }

// LogValue logs c without its Auth Token.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("account_sid", c.AccountSID),
		slog.String("from", c.From),
		slog.String("messaging_service_sid", c.MessagingServiceSID),
		slog.String("base_url", c.BaseURL),
	)
}

// Client sends messages through one Twilio account. It implements
// [sms.Sender] and is safe for concurrent use.
type Client struct {
	name      string
	endpoint  string // …/2010-04-01/Accounts/{AccountSid}/Messages.json
	sid       string
	token     string
	from      string
	service   string
	callback  string
	client    *http.Client
	timeout   time.Duration
	userAgent string
}

var _ sms.Submitter = (*Client)(nil)

// New checks cfg and returns a client for it. Its errors name the setting
// at fault but never repeat the Auth Token.
func New(cfg Config) (*Client, error) {
	name := cfg.Name
	if name == "" {
		name = DefaultName
	}
	if !validSID(cfg.AccountSID, "AC") {
		return nil, errors.New("twilio: AccountSID must be \"AC\" and 32 hexadecimal digits")
	}
	switch {
	case cfg.AuthToken == "":
		return nil, errors.New("twilio: AuthToken is empty")
	case strings.IndexFunc(cfg.AuthToken, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		// Not repeated: it is a secret. A file's trailing newline is the
		// usual cause.
		return nil, errors.New("twilio: AuthToken contains white space or control characters (a trailing newline from its file?)")
	}
	switch {
	case cfg.From == "" && cfg.MessagingServiceSID == "":
		return nil, errors.New("twilio: set From or MessagingServiceSID")
	case cfg.From != "" && cfg.MessagingServiceSID != "":
		return nil, errors.New("twilio: set From or MessagingServiceSID, not both")
	case cfg.MessagingServiceSID != "" && !validSID(cfg.MessagingServiceSID, "MG"):
		return nil, errors.New("twilio: MessagingServiceSID must be \"MG\" and 32 hexadecimal digits")
	case cfg.From != "" && !validFrom(cfg.From):
		return nil, fmt.Errorf("twilio: From %q: want an E.164 number, a short code or an alphanumeric sender ID", cfg.From)
	}
	if cfg.StatusCallbackURL != "" {
		if err := checkCallbackURL(cfg.StatusCallbackURL); err != nil {
			return nil, fmt.Errorf("twilio: StatusCallbackURL: %w", err)
		}
	}

	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("twilio: BaseURL must be an absolute http or https URL without user, query or fragment")
	}
	endpoint := strings.TrimSuffix(u.String(), "/") + "/" + apiVersion + "/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json"

	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		return nil, fmt.Errorf("twilio: negative Timeout %s", timeout)
	}

	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Client{
		name:      name,
		endpoint:  endpoint,
		sid:       cfg.AccountSID,
		token:     cfg.AuthToken,
		from:      cfg.From,
		service:   cfg.MessagingServiceSID,
		callback:  cfg.StatusCallbackURL,
		client:    client,
		timeout:   timeout,
		userAgent: "otpgate-twilio",
	}, nil
}

// Name returns Config.Name, "twilio" by default.
func (c *Client) Name() string { return c.name }

// String describes c without its Auth Token.
func (c *Client) String() string { return fmt.Sprintf("twilio %s (%s)", c.name, c.sid) }

// GoString is String, so that %#v does not print the Auth Token either.
func (c *Client) GoString() string { return c.String() }

// Send creates the message at Twilio and returns nil once Twilio accepted
// it. See Submit.
func (c *Client) Send(ctx context.Context, m sms.Message) error {
	_, err := c.Submit(ctx, m)
	return err
}

// SendID is Submit: it makes c an [sms.Submitter].
func (c *Client) SendID(ctx context.Context, m sms.Message) (string, error) {
	return c.Submit(ctx, m)
}

// Submit creates the message at Twilio and returns the SID Twilio gave it
// ("SM…"), which its status callbacks carry as MessageSid.
//
// Every error is an *[Error], classified by [KindOf] when Twilio answered.
// A message whose number is not E.164 or whose text is empty, not UTF-8 or
// longer than Twilio's 1,600 characters is refused before any request, as
// Rejected. Neither the number nor the text appears in errors.
func (c *Client) Submit(ctx context.Context, m sms.Message) (string, error) {
	if err := checkMessage(m); err != nil {
		return "", c.fail("check message", Rejected, err)
	}
	if err := ctx.Err(); err != nil {
		return "", c.fail("create message", TryNext, err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	form := url.Values{}
	form.Set("To", m.To)
	form.Set("Body", m.Text) // UTF-8, percent-encoded by Encode
	if c.service != "" {
		form.Set("MessagingServiceSid", c.service)
	} else {
		form.Set("From", c.from)
	}
	if c.callback != "" {
		form.Set("StatusCallback", c.callback)
	}
	// written records that the transport has taken the whole body: from
	// then on a missing answer leaves the outcome unknown. The body is
	// read before it is written to the connection, so Twilio cannot have
	// the request without written being set; a failure between the two
	// counts as unknown, the safe side. (httptrace's WroteRequest would be
	// exact but runs in the transport's goroutine after the write, and may
	// come after Do has already returned the error the peer caused.)
	var written atomic.Bool
	encoded := form.Encode()
	newBody := func() io.ReadCloser {
		return io.NopCloser(&sentReader{r: strings.NewReader(encoded), sent: &written})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, newBody())
	if err != nil {
		return "", c.fail("create message", ConfigError, unwrapURLError(err))
	}
	req.ContentLength = int64(len(encoded))
	req.GetBody = func() (io.ReadCloser, error) { return newBody(), nil }
	req.SetBasicAuth(c.sid, c.token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	resp, err := c.client.Do(req)
	if err != nil {
		cause := unwrapURLError(err)
		switch {
		case parent.Err() != nil: // the caller gave up: say so, not "timeout"
			cause = fmt.Errorf("no answer before the caller's deadline: %w", parent.Err())
		case ctx.Err() != nil:
			cause = fmt.Errorf("no answer within %s: %w", c.timeout, ctx.Err())
		}
		e := c.fail("create message", TryNext, cause)
		e.unknown = written.Load()
		return "", e
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	// Draining lets the connection be reused; it must happen before cancel.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		var created struct {
			SID string `json:"sid"`
		}
		if readErr == nil && json.Unmarshal(body, &created) == nil && created.SID != "" {
			return created.SID, nil
		}
		// A 2xx without a Message: Twilio cut short, or a BaseURL that is
		// not Twilio. Either the message exists or it was never sent.
		cause := errors.New("2xx answer without a message sid")
		if readErr != nil {
			cause = fmt.Errorf("2xx answer cut short: %w", readErr)
		}
		e := c.fail("create message", TryNext, cause)
		e.HTTPStatus = resp.StatusCode
		e.unknown = true
		return "", e
	}

	var apiErr struct {
		Code int `json:"code"`
	}
	if readErr == nil {
		_ = json.Unmarshal(body, &apiErr) // a body that is not Twilio's leaves Code 0
	}
	e := c.fail("create message", KindOf(resp.StatusCode, apiErr.Code), nil)
	e.HTTPStatus = resp.StatusCode
	e.Code = apiErr.Code
	// "If you get a 500 Server Error on these requests [sending an SMS],
	// and you retry the request, it is possible for a customer to receive
	// multiple messages" (https://www.twilio.com/docs/api/errors/20500).
	// A 429 is the opposite: "never processed and is always safe to retry"
	// (https://www.twilio.com/docs/api/errors/20429).
	e.unknown = resp.StatusCode >= 500
	return "", e
}

// sentReader sets sent once its whole content has been read.
type sentReader struct {
	r    *strings.Reader
	sent *atomic.Bool
}

func (s *sentReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if s.r.Len() == 0 {
		s.sent.Store(true)
	}
	return n, err
}

func (c *Client) fail(op string, kind Kind, err error) *Error {
	return &Error{Provider: c.name, Op: op, Err: err, kind: kind}
}

// checkMessage refuses what Twilio would refuse for the message itself,
// without naming the number or the text.
func checkMessage(m sms.Message) error {
	if !validE164(m.To) {
		return errors.New("the number is not E.164")
	}
	switch {
	case m.Text == "":
		return errors.New("empty text")
	case !utf8.ValidString(m.Text):
		return errors.New("the text is not valid UTF-8")
	case utf8.RuneCountInString(m.Text) > maxBodyChars:
		return fmt.Errorf("the text is longer than Twilio's %d characters", maxBodyChars)
	}
	return nil
}

// validSID reports whether s is prefix and 32 hexadecimal digits.
func validSID(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for i := 2; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// validE164 reports whether s is "+" and 2 to 15 digits, the first not 0.
func validE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validFrom accepts an E.164 number, a short code (digits), or an
// alphanumeric sender ID: up to 11 letters, digits and spaces with at
// least one letter. Twilio decides the rest (21606, 21612).
func validFrom(s string) bool {
	if validE164(s) {
		return true
	}
	if len(s) == 0 || len(s) > 11 {
		return false
	}
	digits, letters := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits++
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			letters++
		case c == ' ':
		default:
			return false
		}
	}
	return letters > 0 || digits == len(s)
}

// checkCallbackURL checks a StatusCallback URL without repeating it: its
// query may carry a secret of the caller's.
func checkCallbackURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("does not parse")
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		return errors.New("must be an absolute http or https URL")
	case strings.Contains(u.Hostname(), "_"):
		return errors.New("the host name has an underscore, which Twilio refuses")
	case u.Fragment != "":
		return errors.New("must not have a fragment")
	}
	return nil
}

// unwrapURLError drops the *url.Error around err: its message repeats the
// request URL, which is long and says nothing the Error does not.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
