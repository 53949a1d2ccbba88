package sms

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDLTMatch(t *testing.T) {
	r := strings.Repeat
	dlt := func(text, tmpl string) Template {
		return Template{Text: text, EntityID: xyzEntityID, TemplateID: xyzCardTID, Header: xyzHeader, DLTTemplate: tmpl}
	}
	withCurrency := func(tm Template, c string) Template { tm.Currency = c; return tm }
	legacyPlain := Template{Text: DefaultTemplate}
	type check struct {
		vars Vars
		want string // the rendered text
	}
	tests := []struct {
		name       string
		codeLength int // 6 when 0
		maxDigits  int
		legacy     Template
		card       *Template
		wantErr    []string // substrings; nil: it matches
		// TextAt and DLTAt of the *DLTMismatchError, when wantErr is set
		// and the texts cannot match.
		textAt, dltAt int
		render        *check // a card message to render, when it matches
	}{
		{
			name: "XYZ Bank: the currency fixed, the amount's number a variable", legacy: legacyPlain,
			card:   ptr(withCurrency(dlt(xyzCardText, xyzCardDLT), "INR")),
			render: &check{Vars{Code: "123456", Amount: &Amount{728_000_000, "INR"}, Last4: "4321"}, "123456 is your OTP for txn of INR 728.00 on card ending 4321. Do not share it. -XYZ Bank"},
		},
		{
			name: "a variable holds {amount}, currency and all", legacy: legacyPlain,
			card:   ptr(dlt("{code} is your OTP for txn of {amount} on card ending {last4}. Do not share it. -XYZ Bank", "{#var#} is your OTP for txn of {#var#} on card ending {#var#}. Do not share it. -XYZ Bank")),
			render: &check{Vars{Code: "123456", Amount: &Amount{728_000_000, "INR"}, Last4: "4321"}, "123456 is your OTP for txn of INR 728.00 on card ending 4321. Do not share it. -XYZ Bank"},
		},
		{
			name: "a variable holds a placeholder and fixed text", legacy: legacyPlain,
			card:   ptr(dlt("G-{code} is your XYZ Bank OTP. Card xx{last4}.", "{#var#} is your XYZ Bank OTP. Card {#var#}.")),
			render: &check{Vars{Code: "123456", Last4: "4321"}, "G-123456 is your XYZ Bank OTP. Card xx4321."},
		},
		{
			name: "a variable holds fixed text only", legacy: legacyPlain,
			card:   ptr(dlt("Dear Customer, {code} is your OTP. -XYZ Bank", "Dear {#var#}, {#var#} is your OTP. -XYZ Bank")),
			render: &check{Vars{Code: "123456"}, "Dear Customer, 123456 is your OTP. -XYZ Bank"},
		},
		{
			name: "two variables side by side", legacy: legacyPlain,
			card:    ptr(dlt("OTP {code}, Rs.{amount_value} on xx{last4}", "OTP {#var#}, Rs.{#var#}{#var#}")),
			render:  nil, // {amount_value} needs a currency: see the next
			wantErr: []string{"{amount_value} states no currency"},
		},
		{
			name: "two variables side by side, in rupees", legacy: legacyPlain,
			card:   ptr(withCurrency(dlt("OTP {code}, Rs.{amount_value} on xx{last4}", "OTP {#var#}, Rs.{#var#}{#var#}"), "INR")),
			render: &check{Vars{Code: "123456", Amount: &Amount{1_000_000, "INR"}, Last4: "4321"}, "OTP 123456, Rs.1.00 on xx4321"},
		},
		{
			name: "legacy with the token line", legacy: dlt(xyzLegacyText, xyzLegacyDLT),
			card: ptr(legacyPlain),
		},
		{
			name: "Hindi (UCS-2)", legacy: legacyPlain,
			card:   ptr(withCurrency(dlt("{code} आपका OTP है, ₹{amount_value}, कार्ड {last4}।", "{#var#} आपका OTP है, ₹{#var#}, कार्ड {#var#}।"), "INR")),
			render: &check{Vars{Code: "123456", Amount: &Amount{728_000_000, "INR"}, Last4: "4321"}, "123456 आपका OTP है, ₹728.00, कार्ड 4321।"},
		},
		{
			name: "a variable of exactly 30 characters", codeLength: 28, legacy: legacyPlain,
			card: ptr(dlt("OTP G-{code}", "OTP {#var#}")),
		},

		// They cannot match.
		{
			name: "{amount} where the DLT template writes the currency", legacy: legacyPlain,
			card: ptr(dlt("{code} is your OTP for txn of {amount} on card ending {last4}. Do not share it. -XYZ Bank", xyzCardDLT)),
			wantErr: []string{
				"card template does not match its DLT template " + xyzCardTID,
				`the otpgate text has {amount} where the DLT template has fixed text "INR "`,
				`write "INR {amount_value}" and set the template's currency to "INR"`,
				`otpgate text:  "{code} is your OTP for txn of {amount} on card ending {last4}. Do not share it. -XYZ Bank"`,
				`DLT template:  "` + xyzCardDLT + `"`,
				"they part after character 30 of the otpgate text and 31 of the DLT template",
				"otpgate text:  … OTP for txn of ⟩{amount} on card…",
				"DLT template:  … OTP for txn of ⟩INR {#var#} on c…",
			},
			textAt: 30, dltAt: 31,
		},
		{
			name: "fixed texts that differ", legacy: legacyPlain,
			card: ptr(withCurrency(dlt("{code} is your OTP for txn of INR {amount_value} on card ending {last4}. Do not share. -XYZ Bank", xyzCardDLT), "INR")),
			wantErr: []string{
				`the fixed texts differ: the otpgate text has '.' where the DLT template has ' '`,
				"they part after character 85 of the otpgate text and 79 of the DLT template",
				"otpgate text:  …4}. Do not share⟩. -XYZ Bank",
				"DLT template:  …#}. Do not share⟩ it. -XYZ Bank",
			},
			textAt: 85, dltAt: 79,
		},
		{
			name: "case matters", legacy: legacyPlain,
			card:    ptr(dlt("{code} is your otp", "{#var#} is your OTP")),
			wantErr: []string{`has 'o' where the DLT template has 'O'`}, textAt: 15, dltAt: 16,
		},
		{
			name: "spaces matter", legacy: legacyPlain,
			card:    ptr(dlt("{code} is  your OTP", "{#var#} is your OTP")),
			wantErr: []string{`has ' ' where the DLT template has 'y'`}, textAt: 10, dltAt: 11,
		},
		{
			name: "a space next to a variable is the variable's", legacy: legacyPlain,
			card:   ptr(dlt("{code}  is your OTP", "{#var#} is your OTP")),
			render: &check{Vars{Code: "123456"}, "123456  is your OTP"},
		},
		{
			name: "the otpgate text stops short", legacy: legacyPlain,
			card:    ptr(dlt("{code} is your OTP", "{#var#} is your OTP. -XYZ Bank")),
			wantErr: []string{`the otpgate text ends where the DLT template goes on with fixed text ". -XYZ Bank"`, "otpgate text:  …ode} is your OTP⟩(end)"},
			textAt:  18, dltAt: 19,
		},
		{
			name: "the otpgate text goes on", legacy: legacyPlain,
			card:    ptr(dlt("{code} is your OTP. -XYZ Bank", "{#var#} is your OTP")),
			wantErr: []string{"the otpgate text goes on after the end of the DLT template", "DLT template:  …ar#} is your OTP⟩(end)"},
			textAt:  18, dltAt: 19,
		},
		{
			name: "the otpgate text ends where a variable is due", legacy: legacyPlain,
			card:    ptr(dlt("{code} is your OTP for ", "{#var#} is your OTP for {#var#}")),
			wantErr: []string{"the otpgate text ends where the DLT template has a {#var#}"}, textAt: 23, dltAt: 24,
		},
		{
			name: "a placeholder where the DLT template has none", legacy: legacyPlain,
			card:    ptr(dlt("{code} is your OTP for {last4}", "{#var#} is your OTP for your card")),
			wantErr: []string{`the otpgate text has {last4} where the DLT template has fixed text "your card"`}, textAt: 23, dltAt: 24,
		},
		{
			name: "words that differ", legacy: legacyPlain,
			card:    ptr(dlt("{code} is your OTP for card {last4}", "{#var#} is your OTP for your card {#var#}")),
			wantErr: []string{`the otpgate text has 'c' where the DLT template has 'y'`}, textAt: 23, dltAt: 24,
		},
		{
			name: "one variable for two placeholders", legacy: legacyPlain,
			card:    ptr(dlt("OTP {code}/{last4}", "OTP {#var#}")),
			wantErr: []string{"the otpgate text goes on after the end of the DLT template; nor can the {#var#} before it reach further: it would hold both {code} and {last4}"}, textAt: 10, dltAt: 11,
		},
		{
			name: "a variable over 30 characters: a 29-digit code and fixed text", codeLength: 29, legacy: legacyPlain,
			card:    ptr(dlt("OTP G-{code}", "OTP {#var#}")),
			wantErr: []string{"goes on after the end of the DLT template; nor can the {#var#} before it reach further: it would hold {code} (up to 29 characters) and fixed text, up to 31 characters in all, over the 30 a DLT variable may hold"},
			textAt:  5, dltAt: 11,
		},
		{
			name: "a variable over 30 characters: fixed text only", legacy: legacyPlain,
			card:    ptr(dlt("Dear "+r("x", 31)+", {code} is your OTP", "Dear {#var#}, {#var#} is your OTP")),
			wantErr: []string{"the otpgate text has 'x' where the DLT template has ','; nor can the {#var#} before it reach further: it would hold fixed text, up to 31 characters in all, over the 30"},
			textAt:  6, dltAt: 12,
		},
		{
			name: "the widest amount fits one variable", maxDigits: 13, legacy: legacyPlain,
			card: ptr(dlt("{code} for {amount}.", "{#var#} for {#var#}.")), // "XXX 9999999999999.9999": 22
		},
		{
			name: "a variable with a line break", legacy: legacyPlain,
			card:    ptr(dlt("OTP:\n{code}", "OTP:{#var#}")),
			wantErr: []string{"a {#var#} cannot stand for this text: it would hold a line break"}, textAt: 4, dltAt: 11,
		},
		{
			name: "a code longer than a variable", codeLength: 31, legacy: legacyPlain,
			card:    ptr(dlt("OTP {code}", "OTP {#var#}")),
			wantErr: []string{"a {#var#} cannot stand for this text: it would hold {code}, up to 31 characters in all, over the 30 a DLT variable may hold"},
			textAt:  4, dltAt: 11,
		},
		{
			name: "a legacy DLT template without the token line", legacy: dlt(xyzLegacyText, "{#var#} is your XYZ Bank verification code. Do not share it."),
			card: ptr(legacyPlain),
			wantErr: []string{
				"legacy template does not match",
				`the legacy flow's message begins with the smsMatchingToken on a line of its own, so its DLT template must begin with "{#var#}\n"`,
				`otpgate text:  "{smsMatchingToken}\n{code} is your XYZ Bank verification code. Do not share it."`,
			},
			textAt: 18, dltAt: 7,
		},
		{
			name: "a legacy DLT template with text before the token line", legacy: dlt(xyzLegacyText, "OTP {#var#}\n{#var#} is your XYZ Bank verification code. Do not share it."),
			card: ptr(legacyPlain), wantErr: []string{`must begin with "{#var#}\n"`}, textAt: 0, dltAt: 0,
		},
		{
			name: "the card flow falls back on a legacy template with the token line", legacy: dlt(xyzLegacyText, xyzLegacyDLT),
			wantErr: []string{
				"card (the legacy template, without the token line) template does not match",
				`the fixed texts differ: the otpgate text has ' ' where the DLT template has '\n'; ` +
					"nor can the {#var#} before it reach further: it would hold {code} (up to 6 characters) and fixed text, up to 31 characters in all",
			},
			textAt: 6, dltAt: 7,
		},

		// The registration itself.
		{name: "a malformed variable", legacy: legacyPlain, card: ptr(dlt("{code} is your OTP", "{#VAR#} is your OTP")), wantErr: []string{`"{#VAR#} is y" is not a variable`, "written {#var#} exactly"}},
		{name: "a variable with spaces", legacy: legacyPlain, card: ptr(dlt("{code} is your OTP", "{# var #} is your OTP")), wantErr: []string{"is not a variable"}},
		{name: "a stray #}", legacy: legacyPlain, card: ptr(dlt("{code} is your OTP", "{#var#} is your OTP var#}")), wantErr: []string{`"#}" is not a variable`}},
		{name: "entity id not digits", legacy: legacyPlain, card: ptr(Template{Text: "{code}", EntityID: "PE-1", TemplateID: "1", DLTTemplate: "{#var#}"}), wantErr: []string{"card template", `DLT entity id "PE-1": not all digits`}},
		{name: "template id not digits", legacy: legacyPlain, card: ptr(Template{Text: "{code}", EntityID: "1", TemplateID: "T 1", DLTTemplate: "{#var#}"}), wantErr: []string{`DLT template id "T 1": not all digits`}},
		{name: "header too long", legacy: legacyPlain, card: ptr(Template{Text: "{code}", EntityID: "1", TemplateID: "1", Header: "XYZBANKLIMITED", DLTTemplate: "{#var#}"}), wantErr: []string{"1 to 11 ASCII letters and digits"}},
		{name: "header with a dash", legacy: legacyPlain, card: ptr(Template{Text: "{code}", EntityID: "1", TemplateID: "1", Header: "VM-XYZBNK", DLTTemplate: "{#var#}"}), wantErr: []string{"DLT header"}},
		{name: "ids without the registered text", legacy: legacyPlain, card: ptr(Template{Text: "{code}", EntityID: "1", TemplateID: "1"}), wantErr: []string{"set all three or none"}},
		{name: "a header alone", legacy: legacyPlain, card: ptr(Template{Text: "{code}", Header: "XYZBNK"}), wantErr: []string{"set all three or none"}},
		{name: "longer than one SMS", legacy: legacyPlain, card: ptr(Template{Text: "{code}", EntityID: "1", TemplateID: "1", DLTTemplate: strings.Repeat("{#var#}x", 81)}), wantErr: []string{"its shortest message has 162 characters, more than one SMS holds"}},
		{name: "not UTF-8", legacy: legacyPlain, card: ptr(Template{Text: "{code}", EntityID: "1", TemplateID: "1", DLTTemplate: "{#var#}\xff"}), wantErr: []string{"DLT template is not valid UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := TemplateSetConfig{CodeLength: tt.codeLength, MaxAmountDigits: tt.maxDigits, Templates: map[Flow]Template{FlowLegacy: tt.legacy}}
			if cfg.CodeLength == 0 {
				cfg.CodeLength = 6
			}
			if tt.card != nil {
				cfg.Templates[FlowCard] = *tt.card
			}
			s, err := NewTemplateSet(cfg)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("NewTemplateSet() error = %v", err)
				}
				if tt.render != nil {
					m, err := s.Render(FlowCard, tt.render.vars)
					if err != nil || m.Text != tt.render.want || m.DLT == nil || m.DLT.TemplateID != xyzCardTID {
						t.Errorf("Render() = %+v, %v; want %q with its DLT ids", m, err, tt.render.want)
					}
				}
				return
			}
			if err == nil {
				t.Fatal("NewTemplateSet() succeeded, want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			var mismatch *DLTMismatchError
			if errors.As(err, &mismatch) {
				if !errors.Is(err, ErrDLTMismatch) {
					t.Error("a *DLTMismatchError that is not ErrDLTMismatch")
				}
				if mismatch.TextAt != tt.textAt || mismatch.DLTAt != tt.dltAt {
					t.Errorf("they part at %d and %d, want %d and %d:\n%v", mismatch.TextAt, mismatch.DLTAt, tt.textAt, tt.dltAt, err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestDLTRegexp: what Render holds every message to, the operator's rule.
func TestDLTRegexp(t *testing.T) {
	d, err := parseDLTTemplate(xyzCardDLT)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		text string
		want bool
	}{
		{"123456 is your OTP for txn of INR 728.00 on card ending 4321. Do not share it. -XYZ Bank", true},
		{"x is your OTP for txn of INR y on card ending z. Do not share it. -XYZ Bank", true},
		{strings.Repeat("1", 30) + " is your OTP for txn of INR 1 on card ending 1. Do not share it. -XYZ Bank", true},
		{strings.Repeat("1", 31) + " is your OTP for txn of INR 1 on card ending 1. Do not share it. -XYZ Bank", false}, // over 30
		{"ज्ञ is your OTP for txn of INR 1 on card ending 1. Do not share it. -XYZ Bank", true},                         // characters, not bytes
		{" is your OTP for txn of INR 1 on card ending 1. Do not share it. -XYZ Bank", false},                           // an empty variable
		{"12\n34 is your OTP for txn of INR 1 on card ending 1. Do not share it. -XYZ Bank", false},                     // a line break
		{"123456 is your OTP for txn of INR 728.00 on card ending 4321. Do not share it. -XYZ Bank.", false},
		{"123456 is your OTP for txn of INR 728.00 on card ending 4321. Do not share it. -XYZ Bank\n", false},
		{"123456 is your otp for txn of INR 728.00 on card ending 4321. Do not share it. -XYZ Bank", false},
		{"123456 is your OTP for txn of USD 728.00 on card ending 4321. Do not share it. -XYZ Bank", false},
	} {
		if got := d.re.MatchString(tt.text); got != tt.want {
			t.Errorf("%q: match = %v, want %v", tt.text, got, tt.want)
		}
	}
	// Characters of the DLT template that mean something in a regular
	// expression are fixed text.
	d, err = parseDLTTemplate("OTP (1/2): {#var#}. Amt $[x]* +{#var#}?")
	if err != nil {
		t.Fatal(err)
	}
	if !d.re.MatchString("OTP (1/2): 123456. Amt $[x]* +9.00?") || d.re.MatchString("OTP 1/2: 123456. Amt $x +9.00") {
		t.Errorf("regexp %s does not take the fixed text literally", d.re)
	}
}

// TestRenderPanicsOnDLTMismatchInTests: the send-time assertion. A message
// that does not match its DLT template would be dropped by the operator
// without a word; NewTemplateSet proves that this cannot happen, and in case
// it ever does, Render refuses to send it and, in a test binary, panics.
func TestRenderPanicsOnDLTMismatchInTests(t *testing.T) {
	s, err := NewTemplateSet(TemplateSetConfig{CodeLength: 6, Templates: xyzTemplates()})
	if err != nil {
		t.Fatal(err)
	}
	// Break what the set was proved against: the registration now says
	// "USD", the text still writes "INR".
	bad, err := parseDLTTemplate(strings.Replace(xyzCardDLT, "INR", "USD", 1))
	if err != nil {
		t.Fatal(err)
	}
	s.flows[FlowCard].dltParsed = bad

	const code = "918273"
	defer func() {
		p := recover()
		err, ok := p.(error)
		if !ok || !errors.Is(err, ErrDLTMismatch) {
			t.Fatalf("Render() panicked with %v, want an ErrDLTMismatch", p)
		}
		for _, w := range []string{"card message of 88 characters", "does not match DLT template " + xyzCardTID, "USD {#var#}", "refused"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("panic %q does not contain %q", err, w)
			}
		}
		if strings.Contains(err.Error(), code) {
			t.Errorf("panic %q holds the code", err)
		}
	}()
	m, err := s.Render(FlowCard, Vars{Code: code, Amount: &Amount{728_000_000, "INR"}, Last4: "4321"})
	t.Fatalf("Render() = %+v, %v; want a panic", m, err)
}

// FuzzDLTMatch checks NewTemplateSet's promise about DLT: when it accepts a
// template with a DLT registration, every message Render makes of it matches
// the registered template's regular expression, the operator's rule (Render
// panics in tests when one does not). The values are drawn at their
// narrowest and widest.
//
//	go test -run '^$' -fuzz '^FuzzDLTMatch$' -fuzztime 10m ./internal/sms
func FuzzDLTMatch(f *testing.F) {
	for _, s := range [][2]string{
		{xyzCardText, xyzCardDLT},
		{"{code} is your OTP for txn of {amount} on card ending {last4}. Do not share it. -XYZ Bank", "{#var#} is your OTP for txn of {#var#} on card ending {#var#}. Do not share it. -XYZ Bank"},
		{"G-{code} is your OTP. Card xx{last4}.", "{#var#} is your OTP. Card {#var#}."},
		{"Dear Customer, {code} is your OTP", "Dear {#var#}, {#var#} is your OTP"},
		{"OTP {code}, Rs.{amount_value} on xx{last4}", "OTP {#var#}, Rs.{#var#}{#var#}"},
		{"{code} आपका OTP है, ₹{amount_value}, कार्ड {last4}।", "{#var#} आपका OTP है, ₹{#var#}, कार्ड {#var#}।"},
		{"{code}{last4}", "{#var#}{#var#}"},
		{"a{code}a", "{#var#}a"},
		{"{code} x", "{#var#}{#var#}x"},
	} {
		f.Add(s[0], s[1], 6, uint64(0))
	}
	f.Fuzz(func(t *testing.T, text, dltText string, codeLength int, seed uint64) {
		if codeLength < 1 || codeLength > 40 {
			return
		}
		s, err := NewTemplateSet(TemplateSetConfig{CodeLength: codeLength, Templates: map[Flow]Template{
			FlowLegacy: {Text: "{code}"},
			FlowCard:   {Text: text, Currency: "INR", EntityID: "1", TemplateID: "2", DLTTemplate: dltText},
		}})
		if err != nil {
			return
		}
		for _, v := range []Vars{
			{Code: fuzzCode(seed, codeLength), Amount: &Amount{0, "INR"}, Last4: "0000"},
			{Code: fuzzCode(seed+1, codeLength), Amount: &Amount{999_999_999_990_000, "INR"}, Last4: "9999"},
			{Code: fuzzCode(seed+2, codeLength), Amount: &Amount{int64(seed%1_000_000_000) * 10_000, "INR"}, Last4: fmt.Sprintf("%04d", seed%10000)},
		} {
			m, err := s.Render(FlowCard, v) // panics on a DLT mismatch
			if err != nil && !errors.Is(err, ErrTooLong) {
				t.Fatalf("Render(%+v) of %q, registered as %q: %v", v, text, dltText, err)
			}
			if err == nil && !strings.Contains(m.Text, v.Code) {
				t.Fatalf("Render() = %q, without the code", m.Text)
			}
		}
	})
}
