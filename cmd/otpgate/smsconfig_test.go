package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kong"
	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sms/smpp"
)

// parseServe parses `otpgate serve args…` as main does, with the given
// --config file (none when ""), and returns the serve command.
func parseServe(t *testing.T, config string, args ...string) (*serveCmd, error) {
	t.Helper()
	var c cli
	parser, err := kong.New(&c, kong.Name("otpgate"), kong.DefaultEnvars("OTPGATE"), kong.Configuration(configFile),
		kong.Vars{"sms_template": sms.DefaultTemplate, "max_in_flight": "4"},
		kong.Exit(func(int) { t.Fatal("kong exited") }))
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{"serve", "--insecure-plaintext"}
	if config != "" {
		argv = append(argv, "--config", config)
	}
	if _, err := parser.Parse(append(argv, args...)); err != nil {
		return nil, err
	}
	return &c.Serve, nil
}

// XYZ Bank's DLT registrations, as in internal/sms's tests.
const (
	xyzEntityID   = "1101234567890123456"
	xyzLegacyTID  = "1107161234567890999"
	xyzCardTID    = "1107161234567890123"
	xyzLegacyText = "{code} is your XYZ Bank verification code. Do not share it."
	xyzLegacyDLT  = "{#var#}\n{#var#} is your XYZ Bank verification code. Do not share it."
	xyzCardText   = "{code} is your XYZ Bank OTP for a card payment. Do not share it."
	xyzCardDLT    = "{#var#} is your XYZ Bank OTP for a card payment. Do not share it."
)

// goodSMSConfig is a --config file of four providers, routes and DLT
// templates, its secrets in dir (files of mode 0600) and in
// OTPGATE_TEST_TWILIO_TOKEN.
func goodSMSConfig(t *testing.T, dir string) string {
	t.Helper()
	t.Setenv("OTPGATE_TEST_TWILIO_TOKEN", "0123456789abcdef0123456789abcdef")
	smppPass := writeFile(t, dir, "smpp.pass", "s3cret\n")
	gwKey := writeFile(t, dir, "gw.key", "Bearer gw-token")
	return writeFile(t, dir, "otpgate.json", `{
  "listen": "127.0.0.1:0",
  "sms": {
    "providers": [
      {"name": "smpp-1", "type": "smpp", "addr": "smsc.example.in:2775", "systemId": "xyzbank",
       "passwordFile": "`+smppPass+`", "source": {"addr": "XYZBNK"}, "bindMode": "transceiver",
       "tps": 50, "dltEntityTag": "0x1400", "dltTemplateTag": "0x1401", "maxPerMinute": 600, "timeout": "4s"},
      {"name": "twilio-1", "type": "twilio", "accountSid": "AC0123456789abcdef0123456789abcdef",
       "authTokenEnv": "OTPGATE_TEST_TWILIO_TOKEN", "from": "+15005550006",
       "statusCallbackUrl": "https://otp.example.com/sms/twilio/status"},
      {"name": "http-1", "type": "http", "url": "https://gw.example.in/send", "headers": {"X-Tenant": "xyz"},
       "headerFiles": {"Authorization": "`+gwKey+`"},
       "body": "{\"to\":{to},\"text\":{text},\"pe_id\":{dlt_entity_id},\"template_id\":{dlt_template_id}}"},
      {"name": "file", "type": "file", "path": "`+filepath.Join(dir, "sms.jsonl")+`"}
    ],
    "routes": {"+91": ["smpp-1", "http-1"], "default": ["twilio-1", "file"]},
    "templates": {
      "legacy": {"text": `+strconv.Quote(xyzLegacyText)+`, "entityId": "`+xyzEntityID+`", "templateId": "`+xyzLegacyTID+`",
                 "header": "XYZBNK", "dltTemplate": `+strconv.Quote(xyzLegacyDLT)+`},
      "card": {"text": `+strconv.Quote(xyzCardText)+`, "entityId": "`+xyzEntityID+`", "templateId": "`+xyzCardTID+`",
               "header": "XYZBNK", "dltTemplate": `+strconv.Quote(xyzCardDLT)+`}
    }
  }
}`)
}

func TestSMSConfigGood(t *testing.T) {
	dir := t.TempDir()
	c, err := parseServe(t, goodSMSConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.planSMS()
	if err != nil {
		t.Fatalf("planSMS: %v", err)
	}
	if err := plan.check(c); err != nil {
		t.Fatalf("check: %v", err)
	}
	var names []string
	for _, p := range plan.providers {
		names = append(names, p.name+"/"+p.kind)
	}
	if want := []string{"smpp-1/smpp", "twilio-1/twilio", "http-1/http", "file/file"}; !cmp.Equal(names, want) {
		t.Errorf("providers %v, want %v", names, want)
	}
	s := plan.providers[0].smpp
	if s.Password != "s3cret" || s.Source != (smpp.Address{TON: 5, NPI: 0, Addr: "XYZBNK"}) || s.TPS != 50 ||
		s.DLTEntityIDTag != 0x1400 || s.DLTTemplateIDTag != 0x1401 || s.RequestTimeout != 4*time.Second || plan.providers[0].maxPerMinute != 600 {
		t.Errorf("smpp config %+v", *s)
	}
	if tw := plan.providers[1]; tw.twilio.AuthToken != "0123456789abcdef0123456789abcdef" || tw.callbackPath != "/sms/twilio/status" ||
		tw.twilio.Timeout != c.SMSTimeout {
		t.Errorf("twilio config %v, callback path %q", tw.twilio, tw.callbackPath)
	}
	if h := plan.providers[2].http.Headers; h["Authorization"] != "Bearer gw-token" || h["X-Tenant"] != "xyz" {
		t.Errorf("http headers %v", h)
	}
	if want := map[string][]string{"+91": {"smpp-1", "http-1"}, "default": {"twilio-1", "file"}}; !cmp.Equal(plan.routes, want) {
		t.Errorf("routes %v", plan.routes)
	}
	msg, err := plan.templates.Render(sms.FlowLegacy, sms.Vars{Code: "123456", SMSMatchingToken: "AB12345678C"})
	if err != nil || msg.DLT == nil || msg.DLT.TemplateID != xyzLegacyTID || msg.DLT.Header != "XYZBNK" {
		t.Errorf("legacy message %+v, %v", msg, err)
	}

	// A route flag replaces the file's route of its prefix.
	c, err = parseServe(t, goodSMSConfig(t, dir), "--sms-route", "+91=http-1,smpp-1", "--sms-route", "+44=file")
	if err != nil {
		t.Fatal(err)
	}
	if plan, err = c.planSMS(); err != nil {
		t.Fatal(err)
	}
	if want := map[string][]string{"+91": {"http-1", "smpp-1"}, "+44": {"file"}, "default": {"twilio-1", "file"}}; !cmp.Equal(plan.routes, want) {
		t.Errorf("routes with --sms-route %v", plan.routes)
	}
}

// TestSMSConfigRefused: each mistake is refused with an error that names
// it; none of them shows a secret.
func TestSMSConfigRefused(t *testing.T) {
	dir := t.TempDir()
	pass := writeFile(t, dir, "pass", "s3cret")
	open := writeFile(t, dir, "open-pass", "s3cret")
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	smppOK := `{"name": "s", "type": "smpp", "addr": "smsc.example:2775", "systemId": "x", "passwordFile": "` + pass + `"}`
	for _, tc := range []struct {
		name string
		sms  string   // the "sms" object
		args []string // more flags
		want []string // in the error, from parsing or planning
	}{
		{"unknown key of a provider", `{"providers": [{"name": "f", "type": "file", "path": "x", "paht": "y"}]}`,
			nil, []string{`sms/providers/0/paht: unknown key "paht"`, "README"}},
		{"unknown key at the top", `{"provider": []}`, nil, []string{`sms/provider: unknown key "provider"`}},
		{"a key of another type", `{"providers": [{"name": "f", "type": "file", "path": "x", "systemId": "y"}]}`,
			nil, []string{`unknown key "systemId"`, "a file provider's keys"}},
		{"keys are case-sensitive", `{"providers": [{"name": "f", "type": "file", "Path": "x"}]}`, nil, []string{`unknown key "Path"`}},
		{"key given twice", `{"providers": [{"name": "f", "type": "file", "path": "x", "path": "y"}]}`, nil, []string{`sms/providers/0/path: duplicate`}},
		{"unknown type", `{"providers": [{"name": "f", "type": "carrier-pigeon"}]}`, nil, []string{`type "carrier-pigeon"`}},
		{"inline SMPP password", `{"providers": [{"name": "s", "type": "smpp", "addr": "a:1", "systemId": "x", "password": "s3cret"}]}`,
			nil, []string{`"password" is refused`, "passwordFile", "passwordEnv"}},
		{"inline Twilio token", `{"providers": [{"name": "t", "type": "twilio", "accountSid": "AC0123456789abcdef0123456789abcdef", "authToken": "s3cret", "from": "+15005550006"}]}`,
			nil, []string{`"authToken" is refused`, "authTokenFile"}},
		{"inline credential header", `{"providers": [{"name": "h", "type": "http", "url": "https://gw.example", "headers": {"X-Api-Key": "s3cret"}}]}`,
			nil, []string{`header "X-Api-Key" holds a credential`, "headerFiles"}},
		{"secret file others can read", `{"providers": [{"name": "s", "type": "smpp", "addr": "a:1", "systemId": "x", "passwordFile": "` + open + `"}]}`,
			nil, []string{"0644", "chmod 600"}},
		{"secret from an unset variable", `{"providers": [{"name": "s", "type": "smpp", "addr": "a:1", "systemId": "x", "passwordEnv": "OTPGATE_TEST_UNSET"}]}`,
			nil, []string{"OTPGATE_TEST_UNSET is not set"}},
		{"no secret", `{"providers": [{"name": "s", "type": "smpp", "addr": "a:1", "systemId": "x"}]}`,
			nil, []string{"SMPP password: give", "passwordFile"}},
		{"bad duration", `{"providers": [{"name": "f", "type": "file", "path": "x", "timeout": "soon"}]}`, nil, []string{`"soon"`}},
		{"bad TLV tag", `{"providers": [` + strings.Replace(smppOK, `"systemId"`, `"dltEntityTag": "0x10000", "systemId"`, 1) + `]}`,
			nil, []string{`TLV tag "0x10000"`}},
		{"DLT mismatch", `{"templates": {"legacy": {"text": "{code} is your code.", "entityId": "1", "templateId": "2",
			"dltTemplate": "{#var#}\n{#var#} is your XYZ Bank code."}}, "providers": [{"name": "f", "type": "file", "path": "x"}]}`,
			nil, []string{"sms/templates", "does not match its DLT template", "they part"}},
		{"two legacy texts", `{"templates": {"legacy": {"text": "Code {code}."}}, "providers": [{"name": "f", "type": "file", "path": "x"}]}`,
			[]string{"--sms-template", "Your code {code}."}, []string{"both set the legacy text"}},
		{"bad route flag", `{"providers": [{"name": "f", "type": "file", "path": "x"}]}`,
			[]string{"--sms-route", "+91"}, []string{`--sms-route "+91"`}},
		{"Twilio flags without the account", "", []string{"--sms-twilio-from", "+15005550006", "--sms-file", "x"},
			[]string{"need --sms-twilio-account-sid"}},
		{"SMPP flags without a password", "", []string{"--sms-smpp-addr", "smsc.example:2775", "--sms-smpp-system-id", "x"},
			[]string{"--sms-smpp-password-file", "OTPGATE_SMS_SMPP_PASSWORD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			config := ""
			if tc.sms != "" {
				config = writeFile(t, t.TempDir(), "otpgate.json", `{"sms": `+tc.sms+`}`)
			}
			c, err := parseServe(t, config, tc.args...)
			if err == nil {
				_, err = c.planSMS()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the secret:\n%v", err)
			}
		})
	}
}

// TestSMSConfigCheck: what only the check finds, the routes and the
// providers' own settings, all reported at once.
func TestSMSConfigCheck(t *testing.T) {
	dir := t.TempDir()
	pass := writeFile(t, dir, "pass", "s3cret")
	config := writeFile(t, dir, "otpgate.json", `{"sms": {
		"providers": [
			{"name": "s", "type": "smpp", "addr": "no-port", "systemId": "x", "passwordFile": "`+pass+`"},
			{"name": "f", "type": "file", "path": "`+filepath.Join(dir, "missing", "sms.jsonl")+`"},
			{"name": "h", "type": "http", "url": "https://gw.example", "contentType": "text/plain"}
		],
		"routes": {"+91": ["s", "smpp-2"], "default": ["f"]}}}`)
	c, err := parseServe(t, config)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.planSMS()
	if err != nil {
		t.Fatalf("planSMS: %v", err)
	}
	err = plan.check(c)
	if err == nil {
		t.Fatal("check passed")
	}
	for _, want := range []string{
		`route +91 names provider "smpp-2", which is not configured`,
		`provider s: smpp: address "no-port"`,
		"provider f: file", "directory does not exist",
		"provider h: sms: http gateway", "text/plain",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// A card template may name the amount and the card's last four digits, and
// a DLT registration for them: the engine hands them to the messenger.
func TestSMSCardVariables(t *testing.T) {
	config := writeFile(t, t.TempDir(), "otpgate.json", `{"sms": {
		"providers": [{"name": "f", "type": "file", "path": "x"}],
		"templates": {"card": {"text": "{code} is your OTP for INR {amount_value} on card {last4}.", "currency": "INR",
			"entityId": "1", "templateId": "2", "dltTemplate": "{#var#} is your OTP for INR {#var#} on card {#var#}."}}}}`)
	c, err := parseServe(t, config)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := c.planSMS()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := plan.templates.Render(sms.FlowCard, sms.Vars{Code: "123456", Amount: &sms.Amount{Micros: 728_000_000, Currency: "INR"}, Last4: "1112"})
	if err != nil || msg.Text != "123456 is your OTP for INR 728.00 on card 1112." || msg.DLT == nil || msg.DLT.TemplateID != "2" {
		t.Errorf("card message %+v, %v", msg, err)
	}
}
