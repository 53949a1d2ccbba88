package sms

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzComposer parses arbitrary templates with NewComposer and composes
// messages with arbitrary smsMatchingTokens, seeded with the default
// template. Beyond "no panic" it checks NewComposer's promise, that a
// template it accepts fits one SMS with any valid code and an ordinary
// token, and Compose's: a text it returns is the token line and the template
// with the code in place, within one SMS, and an error never holds the code.
//
// Run it for longer with
//
//	go test -run '^$' -fuzz '^FuzzComposer$' -fuzztime 10m ./internal/sms
func FuzzComposer(f *testing.F) {
	for _, s := range []struct {
		template   string
		codeLength int
		token      string
	}{
		{DefaultTemplate, 6, "AB12345678C"},
		{DefaultTemplate, 10, ""},
		{"{code}", 4, "ab+/cd+/ef+"},
		{"[{code}] ~ €", 8, "AB12345678C"},
		{"आपका सत्यापन कोड {code} है। इसे किसी के साथ साझा न करें।", 6, strings.Repeat("ç", 11)},
		{"{code}" + strings.Repeat("a", 142), 6, "AB1234567\u20acC"},
		{"{code} {code}", 6, "AB12345678C"},
		{"{CODE}", 6, "AB 2345678C"},
		{"{code} \xff", 6, "AB12345678\x00"},
	} {
		f.Add(s.template, s.codeLength, s.token, uint64(123456))
	}

	f.Fuzz(func(t *testing.T, template string, codeLength int, token string, codeSeed uint64) {
		if codeLength > 1000 {
			return // a code longer than any SMS: nothing new to learn, only time
		}
		c, err := NewComposer(template, codeLength)
		if err != nil {
			return
		}
		if !utf8.ValidString(template) || strings.Count(template, CodePlaceholder) != 1 || c.CodeLength() != codeLength {
			t.Fatalf("NewComposer accepted template %q for %d-digit codes", template, codeLength)
		}
		code := fuzzCode(codeSeed, codeLength)
		for _, tok := range []string{"", "AB12345678C"} {
			if _, err := c.Compose(code, tok); err != nil {
				t.Fatalf("NewComposer accepted template %q, but Compose fails with token %q: %v", template, tok, err)
			}
		}

		text, err := c.Compose(code, token)
		if err != nil {
			if msg := counts.ReplaceAllString(err.Error(), ""); len(code) >= 4 && strings.Contains(msg, code) {
				t.Errorf("error holds the code %s: %v", code, err)
			}
			return
		}
		want := strings.Replace(template, CodePlaceholder, code, 1)
		if token != "" {
			want = token + "\n" + want
			if utf8.RuneCountInString(token) != TokenLength || strings.IndexFunc(token, func(r rune) bool {
				return unicode.IsControl(r) || unicode.IsSpace(r)
			}) >= 0 {
				t.Errorf("Compose accepted token %q", token)
			}
		}
		if text != want {
			t.Errorf("Compose = %q, want %q", text, want)
		}
		if !Fits(text) {
			t.Errorf("Compose returned %q, which does not fit one SMS", text)
		}
	})
}

// counts are the numbers that errors give, which may equal a code by chance.
var counts = regexp.MustCompile(`\d+ (?:characters|bytes|digits|GSM-7 septets|UCS-2 units)|limit of \d+|U\+[0-9A-F]+`)

// fuzzCode is a code of n digits drawn from seed, as the otp package makes
// them: leading zeros included.
func fuzzCode(seed uint64, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0' + byte(seed%10)
		seed = seed/10 + seed*2654435761
	}
	return string(b)
}
