package sms

import (
	"errors"
	"strings"
	"testing"
)

func TestNewComposer(t *testing.T) {
	r := strings.Repeat
	tests := []struct {
		name       string
		template   string
		codeLength int
		wantErr    []string // substrings of the error; nil means success
		wantTooLng bool
	}{
		{name: "default", template: DefaultTemplate, codeLength: 6},
		{name: "default with a 10-digit code", template: DefaultTemplate, codeLength: 10},
		{name: "only the placeholder", template: "{code}", codeLength: 6},
		// 11 + 1 + 142 + 6 = 160 septets.
		{name: "GSM-7 exactly full", template: "{code}" + r("a", 142), codeLength: 6},
		{
			name: "GSM-7 one septet over", template: "{code}" + r("a", 143), codeLength: 6,
			wantErr: []string{"template too long", "161 GSM-7 septets", "limit of 160", "11-character token", "6-digit code"}, wantTooLng: true,
		},
		{
			name: "a longer code pushes it over", template: "{code}" + r("a", 142), codeLength: 8,
			wantErr: []string{"162 GSM-7 septets", "8-digit code"}, wantTooLng: true,
		},
		{
			name: "extension characters count twice", template: "{code}" + r("a", 141) + "€", codeLength: 6,
			wantErr: []string{"161 GSM-7 septets"}, wantTooLng: true,
		},
		// 11 + 1 + 52 + 6 = 70 units.
		{name: "UCS-2 exactly full", template: "{code}ç" + r("a", 51), codeLength: 6},
		{
			name: "UCS-2 one unit over", template: "{code}ç" + r("a", 52), codeLength: 6,
			wantErr: []string{"71 UCS-2 units", "limit of 70", `'ç' is not in the GSM-7 alphabet`}, wantTooLng: true,
		},
		{name: "Hindi template that fits", template: "आपका सत्यापन कोड {code} है। इसे किसी के साथ साझा न करें।", codeLength: 6},
		{
			name: "Hindi template too long", template: "आपका सत्यापन कोड {code} है। इसे किसी के साथ भी साझा न करें, बैंक कभी नहीं पूछता।", codeLength: 6,
			wantErr: []string{"UCS-2 units", "limit of 70"}, wantTooLng: true,
		},
		{name: "no placeholder", template: "Your code", codeLength: 6, wantErr: []string{"exactly once", "found 0"}},
		{name: "two placeholders", template: "{code} {code}", codeLength: 6, wantErr: []string{"exactly once", "found 2"}},
		{name: "empty template", template: "", codeLength: 6, wantErr: []string{"exactly once"}},
		{name: "placeholder of another case", template: "{CODE}", codeLength: 6, wantErr: []string{"exactly once"}},
		{name: "zero code length", template: DefaultTemplate, codeLength: 0, wantErr: []string{"code length"}},
		{name: "invalid UTF-8", template: "{code} \xff", codeLength: 6, wantErr: []string{"UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewComposer(tt.template, tt.codeLength)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("NewComposer() error = %v", err)
				}
				if c.CodeLength() != tt.codeLength {
					t.Errorf("CodeLength() = %d, want %d", c.CodeLength(), tt.codeLength)
				}
				return
			}
			if err == nil {
				t.Fatal("NewComposer() succeeded, want an error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if got := errors.Is(err, ErrTooLong); got != tt.wantTooLng {
				t.Errorf("errors.Is(err, ErrTooLong) = %v, want %v", got, tt.wantTooLng)
			}
		})
	}
}

func TestDefaultTemplateLeavesRoom(t *testing.T) {
	// The default must stay GSM-7: one accented character would cut the
	// room from 160 to 70 and surprise whoever edits it.
	msg := "AB12345678C\n" + strings.Replace(DefaultTemplate, "{code}", "123456", 1)
	if name, units := Encoding(msg); name != GSM7 || units > 100 {
		t.Errorf("default message is %s, %d units; want GSM-7 with room to spare", name, units)
	}
}

func TestCompose(t *testing.T) {
	r := strings.Repeat
	const code = "987654"
	tests := []struct {
		name     string
		template string
		code     string
		token    string
		want     string
		wantErr  string // substring; "" means success
		tooLong  bool
	}{
		{
			name: "default", template: DefaultTemplate, code: "123456", token: "AB12345678C",
			want: "AB12345678C\nYour verification code is 123456. Do not share it with anyone.",
		},
		{
			name: "placeholder first", template: "{code} is your code", code: code, token: "0123456789A",
			want: "0123456789A\n987654 is your code",
		},
		{
			name: "placeholder last", template: "Code: {code}", code: code, token: "ab+/cd+/ef+",
			want: "ab+/cd+/ef+\nCode: 987654",
		},
		{
			name: "leading zeros kept", template: "Code: {code}", code: "000012", token: "AB12345678C",
			want: "AB12345678C\nCode: 000012",
		},
		{
			name: "template with extension characters", template: "[{code}] ~ €", code: code, token: "AB12345678C",
			want: "AB12345678C\n[987654] ~ €",
		},
		{
			name: "non-GSM token that still fits", template: "Code {code}", code: code, token: r("ç", 11),
			want: r("ç", 11) + "\nCode 987654",
		},
		{
			name: "GSM-7 full to the last septet", template: "{code}" + r("a", 142), code: code, token: "AB12345678C",
			want: "AB12345678C\n987654" + r("a", 142),
		},
		{
			name: "non-GSM token pushes a long template over 70", template: "{code}" + r("a", 142), code: code, token: "AB1234567ç8",
			wantErr: "160 UCS-2 units", tooLong: true,
		},
		{
			name: "non-GSM token just over 70", template: "{code}" + r("a", 53), code: code, token: "AB1234567ç8",
			wantErr: "71 UCS-2 units, over the limit of 70", tooLong: true,
		},
		{name: "code too short", template: DefaultTemplate, code: "98765", token: "AB12345678C", wantErr: "must be 6 digits"},
		{name: "code too long", template: DefaultTemplate, code: "9876543", token: "AB12345678C", wantErr: "must be 6 digits"},
		{name: "empty code", template: DefaultTemplate, code: "", token: "AB12345678C", wantErr: "must be 6 digits"},
		{name: "code with a letter", template: DefaultTemplate, code: "98765a", token: "AB12345678C", wantErr: "non-digit"},
		{name: "code with a non-ASCII digit", template: DefaultTemplate, code: "9876٥", token: "AB12345678C", wantErr: "non-digit"},
		{name: "code with a space", template: DefaultTemplate, code: "987 54", token: "AB12345678C", wantErr: "non-digit"},
		{name: "token too short", template: DefaultTemplate, code: code, token: "AB12345678", wantErr: "must be 11 characters, got 10"},
		{name: "token too long", template: DefaultTemplate, code: code, token: "AB12345678CD", wantErr: "must be 11 characters, got 12"},
		{name: "no token (India Cards): no token line", template: DefaultTemplate, code: code, token: "",
			want: "Your verification code is 987654. Do not share it with anyone."},
		{name: "token with a newline", template: DefaultTemplate, code: code, token: "AB1234\n678C", wantErr: "control or space"},
		{name: "token with a space", template: DefaultTemplate, code: code, token: "AB1234 678C", wantErr: "control or space"},
		{name: "token not UTF-8", template: DefaultTemplate, code: code, token: "AB12345678\xff", wantErr: "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewComposer(tt.template, 6)
			if err != nil {
				t.Fatalf("NewComposer() error = %v", err)
			}
			got, err := c.Compose(tt.code, tt.token)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Compose() error = %v", err)
				}
				if got != tt.want {
					t.Errorf("Compose() = %q, want %q", got, tt.want)
				}
				if !Fits(got) {
					t.Errorf("Compose() = %q, which does not fit one SMS", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("Compose() = %q, want an error", got)
			}
			if got != "" {
				t.Errorf("Compose() returned %q with its error, want \"\"", got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if errors.Is(err, ErrTooLong) != tt.tooLong {
				t.Errorf("errors.Is(err, ErrTooLong) = %v, want %v", !tt.tooLong, tt.tooLong)
			}
			if tt.code != "" && strings.Contains(err.Error(), tt.code) {
				t.Errorf("error %q contains the code", err)
			}
		})
	}
}
