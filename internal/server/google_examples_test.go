package server_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/server"
)

// Google's pages are the judge of the wire (SPEC, first paragraph). These
// tests send every example request of the pages the SPEC cites, verbatim but
// for requestTimestamp, in the order a real session sends them, and compare
// every answer with Google's example response. The bodies are in
// testdata/google, with their sources in its README.

// exampleTime is when Google's India Cards examples were written (their
// requestTimestamp): Google's example card expires in January 2020, so a
// session that must send an OTP to it runs at the examples' own date.
var exampleTime = time.UnixMilli(1481907920000)

// examplePhone is the accountPhoneNumber of Google's sendOtp example.
const examplePhone = "+918067218010"

// googleExample reads one of Google's example bodies.
func googleExample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "google", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	legacyTimestamp  = regexp.MustCompile(`("requestTimestamp":\s*)"\d+"`)
	currentTimestamp = regexp.MustCompile(`("requestTimestamp":\s*\{\s*"epochMillis":\s*)"\d+"`)
)

// stamped is an example request with only its requestTimestamp moved to now,
// every other byte as Google wrote it.
func stamped(t *testing.T, body []byte, now time.Time) []byte {
	t.Helper()
	ms := []byte(fmt.Sprintf(`${1}"%d"`, now.UnixMilli()))
	for _, re := range []*regexp.Regexp{currentTimestamp, legacyTimestamp} {
		if re.Match(body) {
			return re.ReplaceAll(body, ms)
		}
	}
	t.Fatal("the example has no requestTimestamp to move")
	return nil
}

// sameAsExample checks an answer against Google's example response: the
// same members with the same values, except responseHeader (a timestamp of
// the right form) and ours, the ids we make up. extra names the optional
// members of Google's schema that the example leaves out and we send.
func sameAsExample(t *testing.T, got response, exampleFile string, ours []string, extra ...string) {
	t.Helper()
	if got.status != 200 {
		t.Fatalf("%s: got %d %s", exampleFile, got.status, got.raw)
	}
	var want map[string]any
	if err := json.Unmarshal(googleExample(t, exampleFile), &want); err != nil {
		t.Fatal(err)
	}
	for member, value := range want {
		mine, ok := got.body[member]
		switch {
		case !ok:
			t.Errorf("%s: no %s in %s", exampleFile, member, got.raw)
		case member == "responseHeader":
			checkResponseHeader(t, value, mine)
		case slices.Contains(ours, member):
			if s, _ := mine.(string); s == "" {
				t.Errorf("%s: %s is empty", exampleFile, member)
			}
		case canonical(t, mine) != canonical(t, value):
			t.Errorf("%s: %s is %s, Google's example says %s", exampleFile, member, canonical(t, mine), canonical(t, value))
		}
	}
	for member := range got.body {
		if _, inExample := want[member]; !inExample && !slices.Contains(extra, member) {
			t.Errorf("%s: we send %s, which Google's example does not have", exampleFile, member)
		}
	}
}

// checkResponseHeader: legacy timestamps are strings of digits, current ones
// {"epochMillis": …}, as in the example.
func checkResponseHeader(t *testing.T, want, got any) {
	t.Helper()
	wantTS := want.(map[string]any)["responseTimestamp"]
	gotTS := got.(map[string]any)["responseTimestamp"]
	if _, current := wantTS.(map[string]any); current {
		m, ok := gotTS.(map[string]any)
		if !ok || !regexp.MustCompile(`^\d+$`).MatchString(fmt.Sprint(m["epochMillis"])) {
			t.Errorf("responseTimestamp %v, want {\"epochMillis\": …}", gotTS)
		}
		return
	}
	if s, ok := gotTS.(string); !ok || !regexp.MustCompile(`^\d+$`).MatchString(s) {
		t.Errorf("responseTimestamp %v, want a string of digits", gotTS)
	}
}

func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGoogleLegacyExamplesOnEverySurface plays Google's sendOtp and
// verifyOtp examples, which share one requestId, and the echo example, on
// each legacy surface: the E-Wallets pages show the very same bodies.
func TestGoogleLegacyExamplesOnEverySurface(t *testing.T) {
	for _, surface := range server.Surfaces {
		if surface.Dialect != server.Legacy {
			continue
		}
		t.Run(surface.Name, func(t *testing.T) {
			h := newHarness(t, withCodes("7754321"), withPolicy(func(p *otp.Policy) { p.CodeLength = 7 }),
				withAccounts(func(otp.CardHasher) []otp.Account {
					return []otp.Account{{ID: "G1", Phone: examplePhone, Status: otp.StatusActive}}
				}))
			send := h.postRaw(surface.Prefix+"sendOtp", stamped(t, googleExample(t, "legacy-sendOtp.request.json"), h.clock.Now()))
			sameAsExample(t, send, "legacy-sendOtp.response.json", []string{"paymentIntegratorSendOtpId"})
			if m, _ := h.sms.Last(); m.To != examplePhone || !strings.HasPrefix(m.Text, "AB12345678C\n") {
				t.Errorf("SMS %q to %s", m.Text, m.To)
			}
			h.clock.Advance(72 * time.Millisecond) // as between the examples' timestamps
			verify := h.postRaw(surface.Prefix+"verifyOtp", stamped(t, googleExample(t, "legacy-verifyOtp.request.json"), h.clock.Now()))
			sameAsExample(t, verify, "legacy-verifyOtp.response.json", []string{"paymentIntegratorVerifyOtpId"})

			echo := h.postRaw(surface.Prefix+"echo", stamped(t, googleExample(t, "legacy-echo.request.json"), h.clock.Now()))
			sameAsExample(t, echo, "legacy-echo.response.json", []string{"serverMessage"})
		})
	}
}

// exampleCardHolder owns Google's example card, and its example token (the
// token example uses the same digits), expiring in January 2020 as the
// examples say.
func exampleCardHolder(hasher otp.CardHasher) []otp.Account {
	card := otp.Card{Hash: hasher.Hash("4123456789101112"), Last4: "1112", ExpiryYear: 2020, ExpiryMonth: 1}
	return []otp.Account{{ID: "G2", Phone: "+919800000001", Status: otp.StatusActive, Cards: []otp.Card{card}, Tokens: []otp.Card{card}}}
}

// TestGoogleIndiaCardsSession plays authenticate, resendOtp and verifyOtp as
// Google's examples write them, at the examples' date, with the card and
// then with the token, and the India Cards echo.
func TestGoogleIndiaCardsSession(t *testing.T) {
	for _, request := range []string{"cards-authenticate-card.request.json", "cards-authenticate-token.request.json"} {
		t.Run(request, func(t *testing.T) {
			h := newHarness(t, withStart(exampleTime), withCodes("123456"), withPIAIDs("InvisiCashUSA_USD"),
				withAccounts(exampleCardHolder))
			auth := h.postRaw(cardPath+"authenticate", stamped(t, googleExample(t, request), h.clock.Now()))
			// Google's example answers a redirect and a refused native OTP;
			// here the OTP goes out, and otpgate offers no redirect.
			expectOneOf(t, auth, "nativeOtpResultCase", "nativeOtpSupport")
			expectOneOf(t, auth, "redirectUrlResultCase", "redirectUrlNotSupported")
			sameMembers(t, auth, "cards-authenticate.response.json")
			if m, _ := h.sms.Last(); m.To != "+919800000001" {
				t.Fatalf("the OTP went to %q", m.To)
			}

			resend := h.postRaw(cardPath+"resendOtp", stamped(t, googleExample(t, "cards-resendOtp.request.json"), h.clock.Now()))
			sameAsExample(t, resend, "cards-resendOtp.response.json", nil)
			if n := len(h.sms.Messages()); n != 2 {
				t.Fatalf("%d SMS after the resend, want 2", n)
			}

			// verifyOtp reuses resendOtp's requestId: another method, so a
			// new request (SPEC §4).
			verify := h.postRaw(cardPath+"verifyOtp", stamped(t, googleExample(t, "cards-verifyOtp.request.json"), h.clock.Now()))
			sameAsExample(t, verify, "cards-verifyOtp.response.json", nil, "paymentIntegratorVerifyOtpId")

			echo := h.postRaw("/v2/echo", stamped(t, googleExample(t, "cards-echo.request.json"), h.clock.Now()))
			sameAsExample(t, echo, "cards-echo.response.json", []string{"serverMessage"})
		})
	}
}

// sameMembers checks that an authenticate answer has exactly the members of
// Google's example, in the example's order, and its cvnResult.
func sameMembers(t *testing.T, got response, exampleFile string) {
	t.Helper()
	var want map[string]any
	json.Unmarshal(googleExample(t, exampleFile), &want)
	if got.str("cvnResult") != want["cvnResult"] {
		t.Errorf("cvnResult %q, Google's example %q", got.str("cvnResult"), want["cvnResult"])
	}
	if a, b := orderedMembers(t, []byte(got.raw)), orderedMembers(t, googleExample(t, exampleFile)); !slices.Equal(a, b) {
		t.Errorf("members %v, Google's example has %v", a, b)
	}
}

func orderedMembers(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.Token()
	var names []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// TestGoogleAuthenticateExampleToday: sent now, Google's example card
// (expired since January 2020) gets exactly the refusal of Google's example
// response.
func TestGoogleAuthenticateExampleToday(t *testing.T) {
	h := newHarness(t, withAccounts(exampleCardHolder))
	auth := h.postRaw(cardPath+"authenticate", stamped(t, googleExample(t, "cards-authenticate-card.request.json"), h.clock.Now()))
	sameMembers(t, auth, "cards-authenticate.response.json")
	var want map[string]any
	json.Unmarshal(googleExample(t, "cards-authenticate.response.json"), &want)
	if got := canonical(t, auth.body["nativeOtpResultCase"]); got != canonical(t, want["nativeOtpResultCase"]) {
		t.Errorf("nativeOtpResultCase %s, Google's example %s", got, canonical(t, want["nativeOtpResultCase"]))
	}
	if len(h.sms.Messages()) != 0 {
		t.Error("an OTP went to an expired card's holder")
	}
	if reason := h.refusalReason(t, "G112YZH4XPDV88J", auth); reason != "CARD_EXPIRED" {
		t.Errorf("logged reason %q, want CARD_EXPIRED", reason)
	}
}
