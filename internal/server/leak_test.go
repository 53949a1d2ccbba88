package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/gsp"
	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/sms/smstest"
)

// TestCodesNeverLeak runs every path that touches a code and then scans the
// logs, every response body and the database files for the codes that were
// sent, and the logs for full phone numbers.
func TestCodesNeverLeak(t *testing.T) {
	// Ten digits make an accidental match in unrelated digits (timestamps)
	// vanishingly unlikely, so a hit is a leak.
	h := newHarness(t, withPolicy(func(p *otp.Policy) { p.CodeLength = 10 }))
	for i := range 4 {
		s := fmt.Sprintf("s%d", i)
		expect(t, h.sendOtp(s, map[string]any{"associationId": "as-1"}), 200, "result", "SUCCESS")
		code := h.lastCode()
		h.verifyOtp(s+"-wrong", s, wrongCode(code))
		h.verifyOtp(s+"-right", s, code)
		h.verifyOtp(s+"-again", s, code)
		h.verifyOtp(s+"-right", s, wrongCode(code))           // 412
		h.sendOtp(s, map[string]any{"associationId": "as-2"}) // 412
		h.clock.Advance(time.Minute)
	}
	h.sms.Fail(fmt.Errorf("provider down"))
	h.sendOtp("s-fail", map[string]any{"accountPhoneNumber": "+919812345678"})
	h.sms.Fail(nil)
	h.sendOtp("s-ok", map[string]any{"accountPhoneNumber": "+919812345678"})
	h.verifyOtp("v-ok", "s-ok", "1234567890")

	var codes []string
	for _, m := range h.sms.Messages() {
		codes = append(codes, smstest.ExtractCode(m.Text, 10))
	}
	if len(codes) < 5 {
		t.Fatalf("only %d codes sent", len(codes))
	}
	h.store.Close() // flush the WAL into the files we scan
	sources := map[string]string{"logs": h.logs.String(), "responses": strings.Join(h.responses, "\n")}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(h.dbPath + suffix)
		if err == nil {
			sources["database"+suffix] = string(b)
		}
	}
	if sources["database"] == "" {
		t.Fatal("database file not read")
	}
	for name, text := range sources {
		for _, code := range codes {
			if code == "" {
				t.Fatal("a message without a code")
			}
			if strings.Contains(text, code) {
				t.Errorf("a code appears in the %s", name)
			}
		}
	}
	for _, p := range []string{"+919876543210", "9876543210", "+919812345678", "9812345678"} {
		if strings.Contains(sources["logs"], p) {
			t.Errorf("a full phone number appears in the logs")
		}
	}
	if !strings.Contains(sources["logs"], `"msg":"request"`) {
		t.Fatal("no request was logged: the scan proves nothing")
	}
}

// TestSeedExamples runs Google's example requests (the seeds, with their
// timestamps moved to now) through HTTP, and decodes Google's example
// responses strictly into our response types, so a renamed field would fail.
func TestSeedExamples(t *testing.T) {
	h := newHarness(t)
	seed := func(name string) (request, response []byte) {
		b, err := os.ReadFile(filepath.Join("testdata", "seeds", name))
		if err != nil {
			t.Fatal(err)
		}
		objs := jsonObjects(b)
		if len(objs) < 2 {
			t.Fatalf("%s: found %d JSON examples", name, len(objs))
		}
		return objs[0], objs[1]
	}
	now := func(b []byte) []byte {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		m["requestHeader"].(map[string]any)["requestTimestamp"] = fmt.Sprint(h.clock.Now().UnixMilli())
		out, _ := json.Marshal(m)
		return out
	}
	strict := func(b []byte, v any) {
		t.Helper()
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Errorf("Google's example response does not fit %T: %v", v, err)
		}
	}

	sendReq, sendResp := seed("sendOtp.es.txt")
	r := h.postRaw("/v1/sendOtp", now(sendReq))
	if r.status != 200 || r.str("result") == "" {
		t.Fatalf("seed sendOtp: %d %s", r.status, r.raw)
	}
	strict(sendResp, &gsp.SendOtpResponse{})

	verifyReq, verifyResp := seed("verifyOtp.fr.txt")
	if _, err := gsp.DecodeVerifyOtp(now(verifyReq), gsp.Limits{Now: h.clock.Now(), Window: time.Minute}); err != nil {
		t.Errorf("seed verifyOtp: %v", err)
	}
	// The example's phone has no account here, so its sendOtp sent nothing
	// to verify; google_examples_test.go plays the whole session.
	expect(t, h.postRaw("/v1/verifyOtp", now(verifyReq)), 404, "errorResponseCode", "INVALID_IDENTIFIER")
	strict(verifyResp, &gsp.VerifyOtpResponse{})
}

// jsonObjects finds the top-level {...} blocks of a text.
func jsonObjects(b []byte) [][]byte {
	var out [][]byte
	depth, start := 0, -1
	for i, c := range b {
		switch c {
		case '{':
			if depth == 0 {
				start = i
			}
			depth++
		case '}':
			if depth > 0 {
				depth--
				if depth == 0 && json.Valid(b[start:i+1]) {
					out = append(out, b[start:i+1])
				}
			}
		}
	}
	return out
}
