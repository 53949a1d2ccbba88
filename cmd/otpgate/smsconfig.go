package main

// The "sms" object of a --config file: SMS providers, routes and templates,
// decoded strictly (an unknown or repeated key is an error naming it).

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/otpgate/otpgate/internal/sms"
)

// smsFlagName is the flag, and the --config key, of the SMS configuration.
// config.go hands its JSON to the flag as it is written.
const smsFlagName = "sms"

// smsSettings is the value of --sms: a JSON object, usually the "sms" key
// of the --config file.
//
//	{"providers": [{"name": "smpp-1", "type": "smpp", …}, …],
//	 "routes":    {"+91": ["smpp-1", "http-1"], "default": ["twilio-1"]},
//	 "templates": {"legacy": {"text": …, "entityId": …}, "card": {…}}}
type smsSettings struct {
	Providers []providerSettings
	Routes    map[string][]string
	Templates map[sms.Flow]sms.Template
	set       bool // the flag was given
}

// UnmarshalText decodes the JSON object.
func (s *smsSettings) UnmarshalText(text []byte) error {
	parsed, err := parseSMSSettings(text)
	if err != nil {
		return err
	}
	*s = *parsed
	return nil
}

// smsDocument is the object as written.
type smsDocument struct {
	Providers []jsontext.Value            `json:"providers"`
	Routes    map[string][]string         `json:"routes"`
	Templates map[sms.Flow]jsontext.Value `json:"templates"`
}

// providerSettings is one provider, of one of the four types.
type providerSettings struct {
	providerCommon
	SMPP   *smppSettings
	Twilio *twilioSettings
	HTTP   *httpSettings
	File   *fileSettings
}

// providerCommon are the keys of every provider.
type providerCommon struct {
	Name string `json:"name"`
	Type string `json:"type"` // smpp, twilio, http or file
	// MaxPerMinute replaces --sms-max-per-minute for this provider.
	MaxPerMinute int `json:"maxPerMinute,omitempty"`
	// Timeout bounds one message at this provider; default --sms-timeout.
	Timeout jsonDuration `json:"timeout,omitzero"`
}

// Secrets are never written in the configuration: a key that would hold one
// is refused, pointing at its File and Env forms.
type inlineSecret = jsontext.Value

type smppSettings struct {
	providerCommon `json:",inline"`
	Addr           string       `json:"addr"`
	TLS            bool         `json:"tls,omitempty"`
	SystemID       string       `json:"systemId"`
	PasswordFile   string       `json:"passwordFile,omitempty"`
	PasswordEnv    string       `json:"passwordEnv,omitempty"`
	Password       inlineSecret `json:"password,omitzero"`
	SystemType     string       `json:"systemType,omitempty"`
	BindMode       string       `json:"bindMode,omitempty"` // transceiver (default) or transmitter
	Source         *smppAddress `json:"source,omitempty"`
	ServiceType    string       `json:"serviceType,omitempty"`
	NoReceipts     bool         `json:"noReceipts,omitempty"`
	WindowSize     int          `json:"windowSize,omitempty"`
	TPS            float64      `json:"tps,omitempty"`
	EnquireLink    jsonDuration `json:"enquireLinkInterval,omitzero"`
	ConnectTimeout jsonDuration `json:"connectTimeout,omitzero"`
	DLTEntityTag   tlvTag       `json:"dltEntityTag,omitzero"`
	DLTTemplateTag tlvTag       `json:"dltTemplateTag,omitzero"`
}

// smppAddress is a source address; TON and NPI are derived from Addr when
// not given (see sourceAddress).
type smppAddress struct {
	Addr string `json:"addr"`
	TON  *uint8 `json:"ton,omitempty"`
	NPI  *uint8 `json:"npi,omitempty"`
}

type twilioSettings struct {
	providerCommon      `json:",inline"`
	AccountSID          string       `json:"accountSid"`
	AuthTokenFile       string       `json:"authTokenFile,omitempty"`
	AuthTokenEnv        string       `json:"authTokenEnv,omitempty"`
	AuthToken           inlineSecret `json:"authToken,omitzero"`
	From                string       `json:"from,omitempty"`
	MessagingServiceSID string       `json:"messagingServiceSid,omitempty"`
	// StatusCallbackURL is given to Twilio with each message; Twilio's
	// status callbacks are then served at StatusCallbackPath (default
	// /sms/twilio/status) on the admin listener.
	StatusCallbackURL  string `json:"statusCallbackUrl,omitempty"`
	StatusCallbackPath string `json:"statusCallbackPath,omitempty"`
	BaseURL            string `json:"baseUrl,omitempty"` // Twilio's regional edge, or a test server
}

type httpSettings struct {
	providerCommon `json:",inline"`
	URL            string            `json:"url"`
	Method         string            `json:"method,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	// HeaderFiles and HeaderEnv give headers whose values are secrets
	// (an API key), from a file (mode 0600) or an environment variable.
	HeaderFiles map[string]string `json:"headerFiles,omitempty"`
	HeaderEnv   map[string]string `json:"headerEnv,omitempty"`
	Body        string            `json:"body,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
}

type fileSettings struct {
	providerCommon `json:",inline"`
	Path           string `json:"path"`
}

// parseSMSSettings decodes the "sms" object strictly: unknown keys, keys
// given twice and values of the wrong type are errors that name them. Every
// provider is decoded, so that all their mistakes are reported together.
func parseSMSSettings(text []byte) (*smsSettings, error) {
	strict := json.RejectUnknownMembers(true)
	var doc smsDocument
	if err := json.Unmarshal(text, &doc, strict); err != nil {
		return nil, jsonError("", err)
	}
	s := &smsSettings{Routes: doc.Routes, set: true}
	var errs []error
	for i, raw := range doc.Providers {
		at := fmt.Sprintf("/providers/%d", i)
		p, err := parseProvider(raw, at)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Providers = append(s.Providers, p)
	}
	if len(doc.Templates) > 0 {
		s.Templates = map[sms.Flow]sms.Template{}
	}
	for flow, raw := range doc.Templates {
		var t sms.Template
		if err := json.Unmarshal(raw, &t, strict); err != nil {
			errs = append(errs, jsonError("/templates/"+string(flow), err))
			continue
		}
		s.Templates[flow] = t
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func parseProvider(raw jsontext.Value, at string) (providerSettings, error) {
	var head providerCommon
	// Only name and type first: the type says which keys are valid.
	if err := json.Unmarshal(raw, &head); err != nil {
		return providerSettings{}, jsonError(at, err)
	}
	p := providerSettings{providerCommon: head}
	where := at
	if head.Name != "" {
		where = fmt.Sprintf("%s (%q)", at, head.Name)
	}
	strict := json.RejectUnknownMembers(true)
	var target any
	switch head.Type {
	case "smpp":
		p.SMPP = &smppSettings{}
		target = p.SMPP
	case "twilio":
		p.Twilio = &twilioSettings{}
		target = p.Twilio
	case "http":
		p.HTTP = &httpSettings{}
		target = p.HTTP
	case "file":
		p.File = &fileSettings{}
		target = p.File
	case "":
		return p, fmt.Errorf("sms%s: no \"type\": smpp, twilio, http or file", where)
	default:
		return p, fmt.Errorf("sms%s: type %q: want smpp, twilio, http or file", where, head.Type)
	}
	if err := json.Unmarshal(raw, target, strict); err != nil {
		return p, jsonError(at, err, fmt.Sprintf("; a %s provider's keys are listed in README, SMS providers", head.Type))
	}
	if err := p.refuseInlineSecrets(where); err != nil {
		return p, err
	}
	return p, nil
}

// refuseInlineSecrets refuses a secret written in the configuration, which
// is read by more people and tools than a 0600 file.
func (p providerSettings) refuseInlineSecrets(where string) error {
	inline := func(key, file, env string) error {
		return fmt.Errorf("sms%s: %q is refused: secrets never go in the configuration; give %q (a file of mode 0600) or %q (an environment variable's name)",
			where, key, file, env)
	}
	switch {
	case p.SMPP != nil && len(p.SMPP.Password) > 0:
		return inline("password", "passwordFile", "passwordEnv")
	case p.Twilio != nil && len(p.Twilio.AuthToken) > 0:
		return inline("authToken", "authTokenFile", "authTokenEnv")
	case p.HTTP != nil:
		for name := range p.HTTP.Headers {
			if secretHeader(name) {
				return fmt.Errorf("sms%s: header %q holds a credential, which never goes in the configuration: give it in \"headerFiles\" (a file of mode 0600) or \"headerEnv\" (an environment variable's name)",
					where, name)
			}
		}
	}
	return nil
}

// secretHeader reports whether a header's name says it carries a
// credential.
func secretHeader(name string) bool {
	n := strings.ToLower(name)
	for _, word := range []string{"auth", "key", "token", "secret", "password", "signature", "cookie"} {
		if strings.Contains(n, word) {
			return true
		}
	}
	return false
}

// jsonError says where in the "sms" object decoding failed, as a JSON
// pointer below "sms", and why, without Go's type names. A
// hint, if any, goes after "keys are case-sensitive" for an unknown key.
func jsonError(at string, err error, hint ...string) error {
	var se *json.SemanticError
	if errors.As(err, &se) {
		where := "sms" + at + string(se.JSONPointer)
		switch {
		case errors.Is(se.Err, json.ErrUnknownName):
			return fmt.Errorf("%s: unknown key %q (keys are case-sensitive%s)", where, se.JSONPointer.LastToken(), strings.Join(hint, ""))
		case se.Err != nil:
			return fmt.Errorf("%s: %v", where, se.Err)
		case se.JSONKind != 0:
			return fmt.Errorf("%s: a JSON %s is not valid here", where, se.JSONKind)
		}
		return fmt.Errorf("%s: %v", where, err)
	}
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		return fmt.Errorf("sms%s%s: %v", at, syn.JSONPointer, syn.Err)
	}
	return fmt.Errorf("sms%s: %w", at, err)
}

// jsonDuration is a duration written as Go does, "5s" or "1m30s".
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil || v <= 0 {
		return fmt.Errorf("duration %q: want a positive duration such as \"5s\"", text)
	}
	*d = jsonDuration(v)
	return nil
}

// tlvTag is an SMPP TLV tag, "0x1400" or "5120".
type tlvTag uint16

func (t *tlvTag) UnmarshalText(text []byte) error {
	v, err := parseTLVTag(string(text))
	if err != nil {
		return err
	}
	*t = tlvTag(v)
	return nil
}

func parseTLVTag(s string) (uint16, error) {
	v, err := strconv.ParseUint(s, 0, 16)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("TLV tag %q: want a tag such as \"0x1400\" (1 to 0xFFFF)", s)
	}
	return uint16(v), nil
}

// readSecret reads a secret from a file, which must be readable by its owner
// only (as the secrets files are), or from the environment variable env;
// exactly one of the two. how says where it may come from, for errors. One
// trailing line break of a file is not part of it. what names the setting
// in errors; the secret is never in them.
func readSecret(what, file, env, how string) (string, error) {
	switch {
	case file == "" && env == "":
		return "", fmt.Errorf("%s: give %s", what, how)
	case file != "" && env != "":
		return "", fmt.Errorf("%s: give one of %s, not both", what, how)
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("%s: environment variable %s is not set", what, env)
		}
		return v, nil
	}
	info, err := os.Stat(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: %s has permissions %04o; it must be readable by its owner only (chmod 600 %s)",
			what, file, info.Mode().Perm(), file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if v == "" {
		return "", fmt.Errorf("%s: %s is empty", what, file)
	}
	return v, nil
}
