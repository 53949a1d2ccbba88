package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of HTTPConfig.
const (
	DefaultHTTPMethod       = http.MethodPost
	DefaultHTTPBodyTemplate = `{"to":{to},"text":{text}}` // for JSON
	DefaultHTTPFormTemplate = "to={to}&text={text}"       // for application/x-www-form-urlencoded
	DefaultHTTPContentType  = "application/json"
	DefaultHTTPTimeout      = 10 * time.Second
)

// Placeholders of HTTPConfig.BodyTemplate. {to} and {text} are required;
// the others carry the message's India DLT registration ([Message.DLT]) and
// are "" for a message without one.
const (
	ToPlaceholder   = "{to}"
	TextPlaceholder = "{text}"

	DLTEntityIDPlaceholder   = "{dlt_entity_id}"   // DLT.EntityID, the PE ID
	DLTTemplateIDPlaceholder = "{dlt_template_id}" // DLT.TemplateID
	SenderPlaceholder        = "{sender}"          // DLT.Header, the registered sender id
)

// maxDrain bounds how much of a gateway's answer is read before the body is
// closed: enough to let the connection be reused, not enough to be a risk.
const maxDrain = 64 << 10

// HTTPConfig describes a generic SMS gateway reached by one HTTP request per
// message.
//
// BodyTemplate is the request body, in which {to} is replaced by the phone
// number (E.164) and {text} by the message text, each as often as it occurs;
// both must occur. For India's DLT rules, {dlt_entity_id}, {dlt_template_id}
// and {sender} may occur too: they are replaced by the entity id, template id
// and header of the message's template ("" when it has none), for example
// {"to":{to},"text":{text},"pe_id":{dlt_entity_id},"template_id":{dlt_template_id},"sender":{sender}}.
// The values are escaped for the body's format, chosen by the media type of
// ContentType:
//
//   - application/json, or any type ending in +json: each value is inserted
//     as a complete JSON string, quotes included, so the template writes
//     {"to":{to}}, not {"to":"{to}"}.
//   - application/x-www-form-urlencoded: each value is inserted
//     query-escaped (url.QueryEscape), so the template writes to={to}&body={text}.
//
// Other content types are refused: text inserted into a format without its
// escaping could change the request. An empty BodyTemplate means
// DefaultHTTPBodyTemplate for JSON and DefaultHTTPFormTemplate for a form.
// Replacement is a single pass, so a "{text}" inside the number or the text
// is not expanded again. NewHTTPSender renders the template once with sample
// values and refuses it unless both land inside values of a valid body.
//
// The URL and headers are used as given, without placeholders.
type HTTPConfig struct {
	URL          string            // absolute http or https URL
	Method       string            // POST (default), PUT or PATCH
	Headers      map[string]string // e.g. Authorization; not Content-Type, see ContentType
	BodyTemplate string            // default DefaultHTTPBodyTemplate or DefaultHTTPFormTemplate
	ContentType  string            // default DefaultHTTPContentType
	Timeout      time.Duration     // per message, default DefaultHTTPTimeout
}

// HTTPSender sends messages through a gateway described by an [HTTPConfig].
// It is safe for concurrent use.
type HTTPSender struct {
	client  *http.Client
	method  string
	url     string
	host    string // the only part of the URL errors show: the rest may hold an API key
	header  http.Header
	render  func(m Message) []byte
	timeout time.Duration
}

// HTTPStatusError is the error of a gateway that answered with a status other
// than 2xx.
type HTTPStatusError struct {
	Host       string
	StatusCode int
}

func (e *HTTPStatusError) Error() string {
	// http.StatusText rather than the gateway's own reason phrase, which is
	// free text that we do not control.
	return fmt.Sprintf("sms: http gateway %s: status %d %s", e.Host, e.StatusCode, http.StatusText(e.StatusCode))
}

// NewHTTPSender checks cfg and returns a sender for it. A nil client means a
// client of our own that does not follow redirects: a 301, 302 or 303 would
// turn the POST into a GET without the message, and a gateway's 2xx to that
// GET would pass for acceptance. A client given is used as it is.
func NewHTTPSender(cfg HTTPConfig, client *http.Client) (*HTTPSender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Parse's error repeats the URL, which may hold a secret.
		return nil, errors.New("sms: http gateway: URL does not parse")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("sms: http gateway: URL must be an absolute http or https URL")
	}

	method := strings.ToUpper(cfg.Method)
	switch method {
	case "":
		method = DefaultHTTPMethod
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return nil, fmt.Errorf("sms: http gateway: method %q: must be POST, PUT or PATCH, the message travels in the body", cfg.Method)
	}

	timeout := cfg.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultHTTPTimeout
	case timeout < 0:
		return nil, fmt.Errorf("sms: http gateway: negative timeout %s", timeout)
	}

	contentType := cfg.ContentType
	if contentType == "" {
		contentType = DefaultHTTPContentType
	}
	escape, err := escaperFor(contentType)
	if err != nil {
		return nil, err
	}

	header := make(http.Header, len(cfg.Headers)+1)
	for name, value := range cfg.Headers {
		if !validHeaderName(name) {
			return nil, fmt.Errorf("sms: http gateway: invalid header name %q", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, fmt.Errorf("sms: http gateway: header %s: value contains CR, LF or NUL", name)
		}
		switch http.CanonicalHeaderKey(name) {
		case "Content-Type":
			return nil, errors.New("sms: http gateway: set the content type with ContentType, not in Headers")
		case "Host", "Content-Length", "Transfer-Encoding", "Connection":
			return nil, fmt.Errorf("sms: http gateway: header %s is set by the HTTP client and cannot be configured", name)
		}
		header.Set(name, value)
	}
	header.Set("Content-Type", contentType)

	tmpl := cfg.BodyTemplate
	if tmpl == "" {
		tmpl = escape.defaultTemplate
	}
	for _, p := range []string{ToPlaceholder, TextPlaceholder} {
		if !strings.Contains(tmpl, p) {
			return nil, fmt.Errorf("sms: http gateway: body template has no %s", p)
		}
	}
	render := func(m Message) []byte {
		var d DLT
		if m.DLT != nil {
			d = *m.DLT
		}
		return []byte(strings.NewReplacer(
			ToPlaceholder, escape.value(m.To),
			TextPlaceholder, escape.value(m.Text),
			DLTEntityIDPlaceholder, escape.value(d.EntityID),
			DLTTemplateIDPlaceholder, escape.value(d.TemplateID),
			SenderPlaceholder, escape.value(d.Header),
		).Replace(tmpl))
	}
	// Catch a template that cannot produce a valid body, such as a quoted
	// "{text}" in JSON or a JSON template with a form content type, now
	// rather than at the first message.
	sample := Message{To: "+10000000000", Text: "sample \"text\" & more = {x}\n",
		DLT: &DLT{EntityID: "1101000000000000001", TemplateID: "1107000000000000002", Header: "SAMPLEHDR"}}
	want := []string{sample.To, sample.Text}
	for p, v := range map[string]string{DLTEntityIDPlaceholder: sample.DLT.EntityID, DLTTemplateIDPlaceholder: sample.DLT.TemplateID, SenderPlaceholder: sample.DLT.Header} {
		if strings.Contains(tmpl, p) {
			want = append(want, v)
		}
	}
	if err := escape.check(render(sample), want...); err != nil {
		return nil, fmt.Errorf("sms: http gateway: body template does not give valid %s: %w", contentType, err)
	}

	if client == nil {
		client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &HTTPSender{
		client:  client,
		method:  method,
		url:     cfg.URL,
		host:    u.Host,
		header:  header,
		render:  render,
		timeout: timeout,
	}, nil
}

// Name returns "http".
func (s *HTTPSender) Name() string { return "http" }

// Send posts m to the gateway and returns nil when it answers 2xx. Any other
// status, a transport error, the timeout or the end of ctx is an error, which
// names the gateway's host and the status or cause but never the text (it
// holds the code), the number or the rest of the URL.
func (s *HTTPSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sms: http gateway %s: %w", s.host, err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	req, err := http.NewRequestWithContext(ctx, s.method, s.url, bytes.NewReader(s.render(m)))
	if err != nil {
		return fmt.Errorf("sms: http gateway %s: build request: %w", s.host, unwrapURLError(err))
	}
	req.Header = s.header.Clone()

	resp, err := s.client.Do(req)
	if err != nil {
		switch {
		case parent.Err() != nil: // the caller gave up: say so, not "timeout"
			return fmt.Errorf("sms: http gateway %s: %w", s.host, parent.Err())
		case ctx.Err() != nil:
			return fmt.Errorf("sms: http gateway %s: no answer within %s: %w", s.host, s.timeout, ctx.Err())
		}
		return fmt.Errorf("sms: http gateway %s: %w", s.host, unwrapURLError(err))
	}
	// Draining lets the connection be reused; it must happen before cancel.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &HTTPStatusError{Host: s.host, StatusCode: resp.StatusCode}
	}
	return nil
}

// unwrapURLError drops the *url.Error around err: its message repeats the
// request URL, which may carry an API key.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// bodyEscaper escapes values for one body format and checks a body.
type bodyEscaper struct {
	defaultTemplate string
	value           func(string) string
	// values decodes a body into the string values it carries.
	values func([]byte) ([]string, error)
}

// check decodes body and requires each of want to be found whole within one
// of its values: a placeholder that landed in a key or was escaped twice
// fails here.
func (e bodyEscaper) check(body []byte, want ...string) error {
	values, err := e.values(body)
	if err != nil {
		return err
	}
	for _, w := range want {
		found := false
		for _, v := range values {
			if strings.Contains(v, w) {
				found = true
				break
			}
		}
		if !found {
			return errors.New("a placeholder is not inside a value")
		}
	}
	return nil
}

func escaperFor(contentType string) (bodyEscaper, error) {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return bodyEscaper{}, fmt.Errorf("sms: http gateway: content type %q: %w", contentType, err)
	}
	switch {
	case mediaType == "application/json" || strings.HasSuffix(mediaType, "+json"):
		return bodyEscaper{defaultTemplate: DefaultHTTPBodyTemplate, value: jsonString, values: jsonValues}, nil
	case mediaType == "application/x-www-form-urlencoded":
		return bodyEscaper{defaultTemplate: DefaultHTTPFormTemplate, value: url.QueryEscape, values: formValues}, nil
	}
	return bodyEscaper{}, fmt.Errorf("sms: http gateway: content type %q: only JSON and application/x-www-form-urlencoded bodies are supported", contentType)
}

// jsonString returns s as a JSON string literal, quotes included.
func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the gateway gets the text as written
	_ = enc.Encode(s)        // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// jsonValues returns the string values of a JSON document, not its keys.
func jsonValues(body []byte) ([]string, error) {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errors.New("not valid JSON")
	}
	var values []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			values = append(values, v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc)
	return values, nil
}

// formValues returns the decoded values of a form, not its keys.
func formValues(body []byte) ([]string, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	var values []string
	for _, vs := range form {
		values = append(values, vs...)
	}
	return values, nil
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
