package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// SignatureHeader is the header in which Twilio signs every request it
// makes to an application.
const SignatureHeader = "X-Twilio-Signature"

// maxCallbackBody bounds the body of a status callback: a dozen short
// form fields.
const maxCallbackBody = 64 << 10

// Status is one status callback: Twilio's report that an outbound message
// changed status (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status,
// https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks).
type Status struct {
	MessageSID string // MessageSid: the SID Submit returned
	AccountSID string // AccountSid
	// Status is MessageStatus: "queued", "sending", "sent", "delivered",
	// "undelivered", "failed", "read", … as Twilio wrote it.
	Status string
	// ErrorCode is ErrorCode for undelivered and failed messages (30003
	// unreachable handset, 30007 carrier filtering, …), 0 when absent.
	ErrorCode int
	// To is the recipient, in full, for the caller to match against its
	// records. Never log it: String and LogValue show its last 4 digits.
	To string
}

// Final reports whether Status is an outcome rather than a step:
// delivered, undelivered or failed, or read (after delivered).
func (s Status) Final() bool {
	switch s.Status {
	case "delivered", "undelivered", "failed", "read":
		return true
	}
	return false
}

// String describes s with the number cut to its last 4 digits.
func (s Status) String() string {
	msg := fmt.Sprintf("twilio status %s %s to %s", s.MessageSID, s.Status, last4(s.To))
	if s.ErrorCode != 0 {
		msg += fmt.Sprintf(" (error %d)", s.ErrorCode)
	}
	return msg
}

// LogValue logs s with the number cut to its last 4 digits.
func (s Status) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("message_sid", s.MessageSID),
		slog.String("status", s.Status),
		slog.Int("error_code", s.ErrorCode),
		slog.String("to", last4(s.To)),
	)
}

// last4 keeps the last 4 characters of a number.
func last4(number string) string {
	if len(number) <= 4 {
		return "…"
	}
	return "…" + number[len(number)-4:]
}

// CallbackHandler returns the handler of the status callbacks Twilio posts
// to the StatusCallback URL of each message. It verifies the request's
// X-Twilio-Signature with authToken and answers 403 when the signature is
// missing or wrong; otherwise it parses the callback, calls onStatus with
// it, and answers 204 No Content, which Twilio documents as a valid empty
// answer to a callback (https://www.twilio.com/docs/api/errors/15003).
// onStatus is called from the request's goroutine, one call per callback;
// Twilio may repeat a callback and does not promise their order.
//
// publicURL is the URL Twilio was given (Config.StatusCallbackURL), which
// the signature covers: behind a proxy the request's own scheme, host and
// path are not what Twilio signed. The query is the request's when it has
// one, else publicURL's; the POST parameters come from the body.
//
// Other answers: 405 for a method other than POST, 415 for a body that is
// not a form, 413 for one over 64 KiB, 400 for a signed callback without
// MessageSid or MessageStatus or with a non-numeric ErrorCode.
//
// CallbackHandler panics when authToken is empty or publicURL is not an
// absolute http or https URL: a handler that cannot verify anything must
// not start. New checks StatusCallbackURL the same way.
func CallbackHandler(authToken, publicURL string, onStatus func(Status)) http.Handler {
	if authToken == "" {
		panic("twilio: CallbackHandler: empty auth token")
	}
	if err := checkCallbackURL(publicURL); err != nil {
		panic("twilio: CallbackHandler: public URL " + err.Error())
	}
	if onStatus == nil {
		panic("twilio: CallbackHandler: nil onStatus")
	}
	base, query, _ := strings.Cut(publicURL, "?")
	return &callbackHandler{token: authToken, base: base, query: query, onStatus: onStatus}
}

type callbackHandler struct {
	token    string
	base     string // publicURL up to its query
	query    string // publicURL's raw query, used when the request has none
	onStatus func(Status)
}

func (h *callbackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		http.Error(w, "want application/x-www-form-urlencoded", http.StatusUnsupportedMediaType)
		return
	}
	signature := r.Header.Get(SignatureHeader)
	if signature == "" {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallbackBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	params, err := url.ParseQuery(string(body))
	if err != nil {
		// Nothing Twilio sends: refuse it like any request we cannot
		// verify.
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	query := r.URL.RawQuery
	if query == "" {
		query = h.query
	}
	signed := h.base
	if query != "" {
		signed += "?" + query
	}
	if !ValidSignature(h.token, signed, params, signature) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}

	st := Status{
		MessageSID: params.Get("MessageSid"),
		AccountSID: params.Get("AccountSid"),
		Status:     params.Get("MessageStatus"),
		To:         params.Get("To"),
	}
	if st.MessageSID == "" || st.Status == "" {
		http.Error(w, "MessageSid and MessageStatus are required", http.StatusBadRequest)
		return
	}
	if ec := params.Get("ErrorCode"); ec != "" {
		n, err := strconv.Atoi(ec)
		if err != nil || n < 0 {
			http.Error(w, "ErrorCode is not a number", http.StatusBadRequest)
			return
		}
		st.ErrorCode = n
	}
	h.onStatus(st)
	w.WriteHeader(http.StatusNoContent)
}

// Signature computes the X-Twilio-Signature of a request to fullURL with
// the POST parameters params, as Twilio documents it
// (https://www.twilio.com/docs/usage/webhooks/webhooks-security,
// "Authenticate with signatures"; the worked example is at
// https://www.twilio.com/docs/usage/security#validating-requests):
//
//  1. take the full URL of the request, query string included;
//  2. sort the POST parameters by name and append each name and its
//     value to the URL, with no delimiters;
//  3. sign the result with HMAC-SHA1, the account's Auth Token as the key;
//  4. encode the signature in Base64.
//
// A parameter given more than once contributes each of its values, sorted,
// each after its name, as Twilio's helper libraries do.
func Signature(authToken, fullURL string, params url.Values) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	io.WriteString(mac, fullURL)
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		values := append([]string(nil), params[name]...)
		sort.Strings(values)
		for _, v := range values {
			io.WriteString(mac, name)
			io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ValidSignature reports whether signature is the X-Twilio-Signature of a
// request to fullURL with the POST parameters params. The comparison takes
// the same time wherever the two differ.
func ValidSignature(authToken, fullURL string, params url.Values, signature string) bool {
	want := Signature(authToken, fullURL, params)
	return hmac.Equal([]byte(want), []byte(signature))
}
