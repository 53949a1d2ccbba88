package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/sms"
	"github.com/otpgate/otpgate/internal/sms/twilio"
)

// deadSMSC accepts TCP connections and reads what comes, never answering:
// an SMPP provider whose bind hangs.
func deadSMSC(t *testing.T) (addr string, binds *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	binds = &atomic.Int32{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var header [16]byte // a bind's header: length, command id, status, sequence
				if _, err := io.ReadFull(c, header[:]); err == nil && header[7] == 0x09 {
					binds.Add(1) // bind_transceiver
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), binds
}

// TestE2ESMPPDeadBindFailsOver: the first provider of the route is an SMSC
// that accepts the connection and never answers the bind; sendOtp still
// answers SUCCESS within --sms-timeout, through the second provider (the
// file), and the code it carries verifies. The metrics show the failure of
// the first and the success of the second.
func TestE2ESMPPDeadBindFailsOver(t *testing.T) {
	t.Parallel()
	smsc, binds := deadSMSC(t)
	tmp := t.TempDir()
	smsFile := filepath.Join(tmp, "sms.jsonl")
	config := writeFile(t, tmp, "otpgate.json", `{"sms": {
		"providers": [
			{"name": "smpp-dead", "type": "smpp", "addr": "`+smsc+`", "systemId": "otpgate", "passwordEnv": "E2E_SMPP_PASSWORD",
			 "source": {"addr": "XYZBNK"}},
			{"name": "file", "type": "file", "path": "`+smsFile+`"}
		],
		"routes": {"+91": ["smpp-dead", "file"]}}}`)
	p := e2eServe(t, []string{"E2E_SMPP_PASSWORD=secret"}, "--dev", "--data-dir", filepath.Join(tmp, "data"),
		"--config", config, "--sms-timeout", "4s")

	start := time.Now()
	r := p.sendOtp("dead-bind-1", map[string]any{"associationId": "as-demo-1"})
	took := time.Since(start)
	expectResult(t, "sendOtp with the first provider's bind hanging", r, "SUCCESS")
	if took > 6*time.Second {
		t.Errorf("sendOtp took %s, beyond --sms-timeout (4s)", took)
	}
	if binds.Load() == 0 {
		t.Error("the dead SMSC never received a bind: the failover was not from SMPP")
	}
	msgs, err := sms.ReadFile(smsFile)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("the SMS file holds %d messages (%v), want 1", len(msgs), err)
	}
	if msgs[0].To != "+919876543210" || msgs[0].Flow != sms.FlowLegacy {
		t.Errorf("SMS %+v, want the demo account's number, legacy flow", msgs[0])
	}
	code := smsCode(t, msgs[0].Text)
	expectResult(t, "verifyOtp of the code the file received", p.verifyOtp("dead-bind-verify-1", "dead-bind-1", code), "SUCCESS")

	_, metrics := e2eGet(t, p.admin+"/metrics")
	for _, want := range []string{
		`otpgate_sms_sends_total{outcome="failed",provider="smpp-dead"} 1`,
		`otpgate_sms_sends_total{outcome="accepted",provider="file"} 1`,
		`otpgate_sms_breaker_state{provider="smpp-dead"} 0`,
		`otpgate_sms_send_duration_seconds_count{outcome="accepted",provider="file"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", p.stderr)
	}
}

// TestE2ETwilioStatusCallback: Twilio's signed status callbacks, posted to
// the admin listener, count in otpgate_sms_delivery_total; an unsigned one
// is refused.
func TestE2ETwilioStatusCallback(t *testing.T) {
	t.Parallel()
	const (
		token  = "0123456789abcdef0123456789abcdef"
		public = "https://otp.example.com/sms/twilio/status"
	)
	tmp := t.TempDir()
	p := e2eServe(t, []string{"OTPGATE_SMS_TWILIO_AUTH_TOKEN=" + token}, "--dev", "--data-dir", filepath.Join(tmp, "data"),
		"--sms-twilio-account-sid", "AC0123456789abcdef0123456789abcdef", "--sms-twilio-from", "+15005550006",
		"--sms-twilio-status-callback-url", public)
	form := url.Values{"MessageSid": {"SM0123"}, "MessageStatus": {"delivered"}, "AccountSid": {"AC0123456789abcdef0123456789abcdef"},
		"To": {"+919876543210"}}
	post := func(signature string) int {
		req, err := http.NewRequest(http.MethodPost, p.admin+"/sms/twilio/status", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, signature)
		resp, err := e2eClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post("forged"); s != http.StatusForbidden {
		t.Errorf("unsigned callback: %d, want 403", s)
	}
	if s := post(twilio.Signature(token, public, form)); s != http.StatusNoContent {
		t.Errorf("signed callback: %d, want 204", s)
	}
	if _, metrics := e2eGet(t, p.admin+"/metrics"); !strings.Contains(metrics, `otpgate_sms_delivery_total{provider="twilio",status="delivered"} 1`) {
		t.Errorf("/metrics does not count the delivery:\n%s", grepLines(metrics, "otpgate_sms_"))
	}
	// Not on Google's port, which has an admin listener beside it.
	if resp, err := e2eClient.Post(p.url+"/sms/twilio/status", "application/x-www-form-urlencoded", strings.NewReader(form.Encode())); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the callback on the main port: %d, want 404", resp.StatusCode)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestE2ECardSMSTemplate: an India Cards authenticate sends the card flow's
// template of the --config file, with the amount, the card's last four
// digits and the template's DLT ids.
func TestE2ECardSMSTemplate(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	smsFile := filepath.Join(tmp, "sms.jsonl")
	config := writeFile(t, tmp, "otpgate.json", `{"sms": {
		"providers": [{"name": "file", "type": "file", "path": "`+smsFile+`"}],
		"templates": {
			"card": {"text": "{code} is your OTP for INR {amount_value} on card ending {last4}. -XYZ Bank", "currency": "INR",
			         "entityId": "`+xyzEntityID+`", "templateId": "`+xyzCardTID+`", "header": "XYZBNK",
			         "dltTemplate": "{#var#} is your OTP for INR {#var#} on card ending {#var#}. -XYZ Bank"}}}}`)
	p := e2eServe(t, nil, "--dev", "--data-dir", filepath.Join(tmp, "data"), "--config", config)
	hdr := map[string]any{"protocolVersion": map[string]any{"major": 1}, "requestId": "card-sms-1",
		"requestTimestamp": map[string]any{"epochMillis": strconv.FormatInt(time.Now().UnixMilli(), 10)}, "paymentIntegratorAccountId": demoPIAID}
	r := p.mustPost("/v1/payment-integrator-authenticated-card-fop-api/authenticate", map[string]any{
		"requestHeader":                hdr,
		"accountDetails":               map[string]any{"card": map[string]any{"accountNumber": "4123456789101112", "expiryMonth": "01", "expiryYear": "30"}},
		"amount":                       map[string]any{"amountMicros": "728000000", "currencyCode": "INR"},
		"requestedAuthenticationTypes": map[string]any{"nativeOtp": map[string]any{}},
	})
	if r.status != http.StatusOK || !strings.Contains(r.raw, `"otpSent"`) {
		t.Fatalf("authenticate: %d %s", r.status, r.raw)
	}
	msgs, err := sms.ReadFile(smsFile)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("the SMS file holds %d messages (%v), want 1", len(msgs), err)
	}
	m := msgs[0]
	if m.Flow != sms.FlowCard || !strings.HasSuffix(m.Text, " is your OTP for INR 728.00 on card ending 1112. -XYZ Bank") ||
		m.DLT == nil || *m.DLT != (sms.DLT{EntityID: xyzEntityID, TemplateID: xyzCardTID, Header: "XYZBNK"}) {
		t.Errorf("card SMS %+v (DLT %+v)", m, m.DLT)
	}
}
