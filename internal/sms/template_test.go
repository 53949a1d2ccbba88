package sms

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	testToken = "AB12345678C"
	// A real-looking Indian bank's card OTP: registered with DLT as
	// xyzCardDLT, with otpgate's text xyzCardText.
	xyzCardText = "{code} is your OTP for txn of INR {amount_value} on card ending {last4}. Do not share it. -XYZ Bank"
	xyzCardDLT  = "{#var#} is your OTP for txn of INR {#var#} on card ending {#var#}. Do not share it. -XYZ Bank"
	xyzEntityID = "1101234567890123456"
	xyzCardTID  = "1107161234567890123"
	xyzHeader   = "XYZBNK"
	// Its sendOtp template, with the token line.
	xyzLegacyText = "{code} is your XYZ Bank verification code. Do not share it."
	xyzLegacyDLT  = "{#var#}\n{#var#} is your XYZ Bank verification code. Do not share it."
	xyzLegacyTID  = "1107161234567890999"
)

// xyzTemplates is the XYZ Bank configuration, registered for DLT.
func xyzTemplates() map[Flow]Template {
	return map[Flow]Template{
		FlowLegacy: {Text: xyzLegacyText, EntityID: xyzEntityID, TemplateID: xyzLegacyTID, Header: xyzHeader, DLTTemplate: xyzLegacyDLT},
		FlowCard: {Text: xyzCardText, Currency: "INR", EntityID: xyzEntityID, TemplateID: xyzCardTID, Header: xyzHeader,
			DLTTemplate: xyzCardDLT},
	}
}

func TestNewTemplateSet(t *testing.T) {
	r := strings.Repeat
	legacy := func(text string) map[Flow]Template { return map[Flow]Template{FlowLegacy: {Text: text}} }
	card := func(c Template) map[Flow]Template {
		return map[Flow]Template{FlowLegacy: {Text: DefaultTemplate}, FlowCard: c}
	}
	tests := []struct {
		name      string
		cfg       TemplateSetConfig // CodeLength 6 when 0
		wantErr   []string          // substrings of the error; nil means success
		tooLong   bool
		mismatch  bool
		wantCodes int
	}{
		{name: "default legacy only", cfg: TemplateSetConfig{Templates: legacy(DefaultTemplate)}},
		{name: "XYZ Bank with DLT", cfg: TemplateSetConfig{Templates: xyzTemplates()}},
		{name: "card with {amount} and {last4}", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code}: OTP for {amount} on card xx{last4}"})}},

		// The limits of one SMS, as NewComposer checks them, now per flow.
		// legacy: 11 + 1 + 142 + 6 = 160 septets.
		{name: "legacy GSM-7 exactly full", cfg: TemplateSetConfig{Templates: legacy("{code}" + r("a", 142))}},
		{
			name: "legacy GSM-7 one septet over", cfg: TemplateSetConfig{Templates: legacy("{code}" + r("a", 143))},
			wantErr: []string{"legacy template too long", "161 GSM-7 septets", "limit of 160", "11-character token line", "6-digit code"}, tooLong: true,
		},
		{
			name: "legacy: a longer code pushes it over", cfg: TemplateSetConfig{CodeLength: 8, Templates: legacy("{code}" + r("a", 142))},
			wantErr: []string{"162 GSM-7 septets", "8-digit code"}, tooLong: true,
		},
		{
			name: "legacy: extension characters count twice", cfg: TemplateSetConfig{Templates: legacy("{code}" + r("a", 141) + "€")},
			wantErr: []string{"161 GSM-7 septets"}, tooLong: true,
		},
		// 11 + 1 + 52 + 6 = 70 units.
		{name: "legacy UCS-2 exactly full", cfg: TemplateSetConfig{Templates: legacy("{code}ç" + r("a", 51))}},
		{
			name: "legacy UCS-2 one unit over", cfg: TemplateSetConfig{Templates: legacy("{code}ç" + r("a", 52))},
			wantErr: []string{"71 UCS-2 units", "limit of 70", `'ç' is not in the GSM-7 alphabet`}, tooLong: true,
		},
		{name: "legacy Hindi that fits", cfg: TemplateSetConfig{Templates: legacy("आपका सत्यापन कोड {code} है। इसे किसी के साथ साझा न करें।")}},
		{
			name: "legacy Hindi too long", cfg: TemplateSetConfig{Templates: legacy("आपका सत्यापन कोड {code} है। इसे किसी के साथ भी साझा न करें, बैंक कभी नहीं पूछता।")},
			wantErr: []string{"UCS-2 units", "limit of 70"}, tooLong: true,
		},
		// card: 6 + 1 + 18 ("XXX " and 999999999.9999, any currency) + 1 + 4 = 30.
		{name: "card GSM-7 exactly full", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code} {amount} {last4}" + r("a", 130)})}},
		{
			name: "card GSM-7 one septet over", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code} {amount} {last4}" + r("a", 131)})},
			wantErr: []string{"card template too long", "161 GSM-7 septets", "a 6-digit code, an amount of up to 18 characters and 4 digits of the card"}, tooLong: true,
		},
		// In INR only: 2 decimals, 16 characters.
		{name: "card in INR exactly full", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code} {amount} {last4}" + r("a", 132), Currency: "INR"})}},
		{
			name: "card in INR one over", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code} {amount} {last4}" + r("a", 133), Currency: "INR"})},
			wantErr: []string{"161 GSM-7 septets", "amount of up to 16 characters"}, tooLong: true,
		},
		// Fewer digits of amount allowed, more room: 6+1+(4+6+1+4)+1+4 = 27.
		{name: "card with 6-digit amounts", cfg: TemplateSetConfig{MaxAmountDigits: 6, Templates: card(Template{Text: "{code} {amount} {last4}" + r("a", 133)})}},
		{name: "card UCS-2 exactly full", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code} {amount} {last4}ç" + r("a", 39)})}},
		{
			name: "card UCS-2 one unit over", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code} {amount} {last4}ç" + r("a", 40)})},
			wantErr: []string{"71 UCS-2 units", "limit of 70"}, tooLong: true,
		},
		{name: "card Hindi that fits", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code} OTP है, {amount}, कार्ड {last4}। साझा न करें।"})}},
		{
			name: "card Hindi too long", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code} आपका OTP है, {amount} के लेनदेन हेतु, कार्ड {last4}। किसी से साझा न करें।"})},
			wantErr: []string{"card template too long", "UCS-2 units", "limit of 70"}, tooLong: true,
		},
		{
			name: "a full legacy text also does for the card flow, shorter by the token line", cfg: TemplateSetConfig{CodeLength: 6, Templates: legacy("{code}" + r("a", 142))},
		},

		// What NewComposer refuses, and more.
		{name: "no placeholder", cfg: TemplateSetConfig{Templates: legacy("Your code")}, wantErr: []string{"legacy template", "exactly once", "found 0"}},
		{name: "two codes", cfg: TemplateSetConfig{Templates: legacy("{code} {code}")}, wantErr: []string{"exactly once", "found 2"}},
		{name: "empty text", cfg: TemplateSetConfig{Templates: legacy("")}, wantErr: []string{"exactly once"}},
		{
			name: "the DLT template given as the text", cfg: TemplateSetConfig{Templates: legacy("{#var#} is your code")},
			wantErr: []string{"found 0", "write otpgate's placeholders where the DLT template has its variables"},
		},
		{name: "zero code length", cfg: TemplateSetConfig{CodeLength: -1, Templates: legacy(DefaultTemplate)}, wantErr: []string{"code length"}},
		{name: "invalid UTF-8", cfg: TemplateSetConfig{Templates: legacy("{code} \xff")}, wantErr: []string{"UTF-8"}},
		{name: "unknown placeholder", cfg: TemplateSetConfig{Templates: legacy("{code} {amout}")}, wantErr: []string{"unknown placeholder {amout}"}},
		{name: "placeholder of another case", cfg: TemplateSetConfig{Templates: legacy("{CODE}")}, wantErr: []string{"unknown placeholder {CODE}"}},
		{name: "amount in the legacy flow", cfg: TemplateSetConfig{Templates: legacy("{code} for {amount}")}, wantErr: []string{"{amount} is only for the card flow"}},
		{name: "last4 in the legacy flow", cfg: TemplateSetConfig{Templates: legacy("{code} card {last4}")}, wantErr: []string{"{last4} is only for the card flow"}},
		{
			name: "amount_value without a currency", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code} for INR {amount_value}"})},
			wantErr: []string{"card template", "{amount_value} states no currency"},
		},
		{name: "bad currency", cfg: TemplateSetConfig{Templates: card(Template{Text: "{code}", Currency: "Rs"})}, wantErr: []string{`currency "Rs"`}},
		{name: "no legacy template", cfg: TemplateSetConfig{Templates: map[Flow]Template{FlowCard: {Text: "{code}"}}}, wantErr: []string{"no template for the legacy flow"}},
		{name: "unknown flow", cfg: TemplateSetConfig{Templates: map[Flow]Template{FlowLegacy: {Text: "{code}"}, "upi": {Text: "{code}"}}}, wantErr: []string{`unknown flow "upi"`}},
		{name: "amount digits out of range", cfg: TemplateSetConfig{MaxAmountDigits: 14, Templates: legacy(DefaultTemplate)}, wantErr: []string{"1 to 13, got 14"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.CodeLength == 0 {
				tt.cfg.CodeLength = 6
			}
			s, err := NewTemplateSet(tt.cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("NewTemplateSet() error = %v", err)
				}
				if s.CodeLength() != tt.cfg.CodeLength {
					t.Errorf("CodeLength() = %d, want %d", s.CodeLength(), tt.cfg.CodeLength)
				}
				return
			}
			if err == nil {
				t.Fatal("NewTemplateSet() succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if got := errors.Is(err, ErrTooLong); got != tt.tooLong {
				t.Errorf("errors.Is(err, ErrTooLong) = %v, want %v", got, tt.tooLong)
			}
			if got := errors.Is(err, ErrDLTMismatch); got != tt.mismatch {
				t.Errorf("errors.Is(err, ErrDLTMismatch) = %v, want %v", got, tt.mismatch)
			}
		})
	}
}

func TestRender(t *testing.T) {
	const code = "987654"
	inr := &Amount{Micros: 728_000_000, Currency: "INR"}
	set := func(t *testing.T, templates map[Flow]Template) *TemplateSet {
		t.Helper()
		s, err := NewTemplateSet(TemplateSetConfig{CodeLength: 6, Templates: templates})
		if err != nil {
			t.Fatalf("NewTemplateSet() error = %v", err)
		}
		return s
	}
	plain := map[Flow]Template{
		FlowLegacy: {Text: DefaultTemplate},
		FlowCard:   {Text: "{code} is the OTP for {amount} on your card ending {last4}."},
	}
	hindi := map[Flow]Template{
		FlowLegacy: {Text: "आपका सत्यापन कोड {code} है।"},
		FlowCard:   {Text: "{code} OTP है, {amount}, कार्ड {last4}।"},
	}
	xyzDLT := func(tid string) *DLT { return &DLT{EntityID: xyzEntityID, TemplateID: tid, Header: xyzHeader} }
	tests := []struct {
		name      string
		templates map[Flow]Template
		flow      Flow
		vars      Vars
		want      Message
		wantErr   string
		tooLong   bool
	}{
		{
			name: "legacy: the token alone on the first line", templates: plain, flow: FlowLegacy,
			vars: Vars{Code: code, SMSMatchingToken: testToken},
			want: Message{Flow: FlowLegacy, Text: testToken + "\nYour verification code is 987654. Do not share it with anyone."},
		},
		{
			name: "card: amount and last4", templates: plain, flow: FlowCard,
			vars: Vars{Code: code, Amount: inr, Last4: "1234"},
			want: Message{Flow: FlowCard, Text: "987654 is the OTP for INR 728.00 on your card ending 1234."},
		},
		{
			name: "card: a template without them ignores them", templates: map[Flow]Template{FlowLegacy: {Text: DefaultTemplate}, FlowCard: {Text: "OTP {code}"}},
			flow: FlowCard, vars: Vars{Code: code, Amount: inr, Last4: "1234"},
			want: Message{Flow: FlowCard, Text: "OTP 987654"},
		},
		{
			name: "card without its own template: the legacy text without the token line", templates: map[Flow]Template{FlowLegacy: {Text: DefaultTemplate}},
			flow: FlowCard, vars: Vars{Code: code},
			want: Message{Flow: FlowCard, Text: "Your verification code is 987654. Do not share it with anyone."},
		},
		{
			name: "Hindi legacy (UCS-2)", templates: hindi, flow: FlowLegacy, vars: Vars{Code: code, SMSMatchingToken: testToken},
			want: Message{Flow: FlowLegacy, Text: testToken + "\nआपका सत्यापन कोड 987654 है।"},
		},
		{
			name: "Hindi card (UCS-2)", templates: hindi, flow: FlowCard, vars: Vars{Code: code, Amount: &Amount{Micros: 1_500_000_000, Currency: "JPY"}, Last4: "0042"},
			want: Message{Flow: FlowCard, Text: "987654 OTP है, JPY 1500, कार्ड 0042।"},
		},
		{
			name: "XYZ Bank legacy with its DLT ids", templates: xyzTemplates(), flow: FlowLegacy, vars: Vars{Code: code, SMSMatchingToken: testToken},
			want: Message{Flow: FlowLegacy, Text: testToken + "\n987654 is your XYZ Bank verification code. Do not share it.", DLT: xyzDLT(xyzLegacyTID)},
		},
		{
			name: "XYZ Bank card with its DLT ids", templates: xyzTemplates(), flow: FlowCard, vars: Vars{Code: code, Amount: &Amount{Micros: 99_999_999_990_000, Currency: "INR"}, Last4: "1234"},
			want: Message{Flow: FlowCard, Text: "987654 is your OTP for txn of INR 99999999.99 on card ending 1234. Do not share it. -XYZ Bank", DLT: xyzDLT(xyzCardTID)},
		},

		{name: "unknown flow", templates: plain, flow: "upi", vars: Vars{Code: code}, wantErr: `no template for flow "upi"`},
		{name: "legacy without a token", templates: plain, flow: FlowLegacy, vars: Vars{Code: code}, wantErr: "legacy flow needs the smsMatchingToken"},
		{name: "legacy token too short", templates: plain, flow: FlowLegacy, vars: Vars{Code: code, SMSMatchingToken: "AB12345678"}, wantErr: "must be 11 characters, got 10"},
		{name: "legacy token with a space", templates: plain, flow: FlowLegacy, vars: Vars{Code: code, SMSMatchingToken: "AB1234 678C"}, wantErr: "control or space"},
		{name: "card with a token", templates: plain, flow: FlowCard, vars: Vars{Code: code, SMSMatchingToken: testToken, Amount: inr, Last4: "1234"}, wantErr: "card flow has no smsMatchingToken line"},
		{name: "code too short", templates: plain, flow: FlowLegacy, vars: Vars{Code: "98765", SMSMatchingToken: testToken}, wantErr: "must be 6 digits"},
		{name: "code with a letter", templates: plain, flow: FlowCard, vars: Vars{Code: "98765a", Amount: inr, Last4: "1234"}, wantErr: "non-digit"},
		{name: "card without the amount", templates: plain, flow: FlowCard, vars: Vars{Code: code, Last4: "1234"}, wantErr: "names the amount, and none was given"},
		{name: "card without last4", templates: plain, flow: FlowCard, vars: Vars{Code: code, Amount: inr}, wantErr: "last 4 digits, and 0 bytes"},
		{name: "card with 5 digits of last4", templates: plain, flow: FlowCard, vars: Vars{Code: code, Amount: inr, Last4: "12345"}, wantErr: "last 4 digits, and 5 bytes"},
		{name: "card with letters for last4", templates: plain, flow: FlowCard, vars: Vars{Code: code, Amount: inr, Last4: "12a4"}, wantErr: "not 4 digits"},
		{
			name: "an amount in another currency than the text's", templates: xyzTemplates(), flow: FlowCard,
			vars: Vars{Code: code, Amount: &Amount{Micros: 10_000_000, Currency: "USD"}, Last4: "1234"}, wantErr: `states amounts in INR, not "USD"`,
		},
		{
			name: "an amount too long", templates: plain, flow: FlowCard,
			vars: Vars{Code: code, Amount: &Amount{Micros: 1_000_000_000_000_000, Currency: "INR"}, Last4: "1234"}, wantErr: "10 digits before the point",
		},
		{
			name: "an amount that would need rounding", templates: plain, flow: FlowCard,
			vars: Vars{Code: code, Amount: &Amount{Micros: 728_004_000, Currency: "INR"}, Last4: "1234"}, wantErr: "would have to be rounded",
		},
		{
			name: "a token outside GSM-7 pushes a long text over 70", templates: map[Flow]Template{FlowLegacy: {Text: "{code}" + strings.Repeat("a", 53)}},
			flow: FlowLegacy, vars: Vars{Code: code, SMSMatchingToken: "AB1234567ç8"}, wantErr: "71 UCS-2 units, over the limit of 70", tooLong: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := set(t, tt.templates).Render(tt.flow, tt.vars)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Render() error = %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Render() mismatch (-want +got):\n%s", diff)
				}
				if !Fits(got.Text) {
					t.Errorf("Render() = %q, which does not fit one SMS", got.Text)
				}
				return
			}
			if err == nil {
				t.Fatalf("Render() = %+v, want an error", got)
			}
			if diff := cmp.Diff(Message{}, got); diff != "" {
				t.Errorf("Render() returned a message with its error (-want +got):\n%s", diff)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if errors.Is(err, ErrTooLong) != tt.tooLong {
				t.Errorf("errors.Is(err, ErrTooLong) = %v, want %v", !tt.tooLong, tt.tooLong)
			}
			if len(tt.vars.Code) >= 4 && strings.Contains(err.Error(), tt.vars.Code) {
				t.Errorf("error %q contains the code", err)
			}
		})
	}
}

// TestRenderGivesEachMessageItsOwnDLT: a Sender may keep or change the DLT
// of a message without changing the next one's.
func TestRenderGivesEachMessageItsOwnDLT(t *testing.T) {
	s, err := NewTemplateSet(TemplateSetConfig{CodeLength: 6, Templates: xyzTemplates()})
	if err != nil {
		t.Fatal(err)
	}
	v := Vars{Code: "123456", SMSMatchingToken: testToken}
	a, _ := s.Render(FlowLegacy, v)
	a.DLT.TemplateID = "changed"
	b, _ := s.Render(FlowLegacy, v)
	if b.DLT.TemplateID != xyzLegacyTID {
		t.Errorf("second message's template id = %q, want %q", b.DLT.TemplateID, xyzLegacyTID)
	}
}

// TestRenderLegacyAsComposer: the legacy flow writes what Composer wrote for
// the same template, code and token.
func TestRenderLegacyAsComposer(t *testing.T) {
	for _, tmpl := range []string{
		DefaultTemplate, "{code} is your code", "Code: {code}", "[{code}] ~ €", "{code}" + strings.Repeat("a", 142),
		"आपका सत्यापन कोड {code} है। इसे किसी के साथ साझा न करें।", "{ code } {code} {}", "{#var#}{code}",
	} {
		for _, token := range []string{testToken, "ab+/cd+/ef+", strings.Repeat("ç", 11), "AB1234567ç8"} {
			c, cerr := NewComposer(tmpl, 6)
			s, serr := NewTemplateSet(TemplateSetConfig{CodeLength: 6, Templates: map[Flow]Template{FlowLegacy: {Text: tmpl}}})
			if (cerr == nil) != (serr == nil) {
				t.Fatalf("template %q: NewComposer error %v, NewTemplateSet error %v", tmpl, cerr, serr)
			}
			if cerr != nil {
				continue
			}
			want, werr := c.Compose("000123", token)
			got, gerr := s.Render(FlowLegacy, Vars{Code: "000123", SMSMatchingToken: token})
			if (werr == nil) != (gerr == nil) || got.Text != want {
				t.Errorf("template %q, token %q: Render() = %q, %v; Compose() = %q, %v", tmpl, token, got.Text, gerr, want, werr)
			}
		}
	}
}

func TestPlaceholders(t *testing.T) {
	s, err := NewTemplateSet(TemplateSetConfig{CodeLength: 6, Templates: map[Flow]Template{
		FlowLegacy: {Text: DefaultTemplate},
		FlowCard:   {Text: "{last4}: {code} for {amount}"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for flow, want := range map[Flow][]string{
		FlowLegacy: {"{code}"},
		FlowCard:   {"{code}", "{amount}", "{last4}"},
		"upi":      nil,
	} {
		if diff := cmp.Diff(want, s.Placeholders(flow)); diff != "" {
			t.Errorf("Placeholders(%q) (-want +got):\n%s", flow, diff)
		}
	}
}
