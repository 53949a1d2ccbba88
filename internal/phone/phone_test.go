package phone

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr error // nil: valid, and the result must equal in
	}{
		// Valid mobiles, as classified by libphonenumber's metadata.
		{"India mobile", "+919876543210", nil},
		// The seed's example (sendOtp.es.txt) is in Bangalore's 80 area, a
		// range libphonenumber cannot split into fixed and mobile.
		{"seed example, FIXED_LINE_OR_MOBILE", "+918067218010", nil},
		{"seed doc example, FIXED_LINE_OR_MOBILE", "+918067218000", nil},
		{"Canada, FIXED_LINE_OR_MOBILE", "+14035551111", nil},
		{"US, FIXED_LINE_OR_MOBILE", "+12015550123", nil},
		{"UK mobile", "+447400123456", nil},
		{"France mobile", "+33612345678", nil},
		{"Germany mobile, 13 digits", "+4915123456789", nil},
		{"Italy mobile", "+393123456789", nil},
		{"Niue mobile, 7 digits", "+6835555", nil},

		// Syntax.
		{"empty", "", ErrNotE164},
		{"no plus", "919876543210", ErrNotE164},
		{"plus only", "+", ErrNotE164},
		{"letters", "+abc", ErrNotE164},
		{"spaces", "+91 98765 43210", ErrNotE164},
		{"dashes", "+91-98765-43210", ErrNotE164},
		{"parentheses", "+1(403)5551111", ErrNotE164},
		{"leading space", " +919876543210", ErrNotE164},
		{"trailing newline", "+919876543210\n", ErrNotE164},
		{"double plus", "++919876543210", ErrNotE164},
		{"vanity letters", "+1800FLOWERS", ErrNotE164},
		{"extension", "+919876543210;ext=1", ErrNotE164},
		{"letter O for zero", "+91987654321O", ErrNotE164},
		{"full-width digits", "+９１９８７６５４３２１０", ErrNotE164},
		{"16 digits", "+9198765432101234", ErrNotE164},
		{"very long", "+" + strings.Repeat("9", 300), ErrNotE164},
		{"country code 0", "+0919876543210", ErrNotE164},
		// libphonenumber would quietly turn this into +447400123456.
		{"UK trunk prefix after country code", "+4407400123456", ErrNotE164},

		// Well-formed but not a valid number.
		{"one digit", "+1", ErrInvalid},
		{"unassigned country code", "+999123456789", ErrInvalid},
		{"India, too long", "+919876543210000", ErrInvalid},
		{"India, too short", "+91987654321", ErrInvalid},
		{"US, area code 011", "+10115551111", ErrInvalid},
		// Ofcom's range for drama: reserved, never assigned, and
		// libphonenumber's metadata says so.
		{"UK drama range", "+447700900123", ErrInvalid},
		// Mexico dropped the mobile '1' after the country code in 2019.
		{"Mexico, old mobile prefix", "+5215512345678", ErrInvalid},

		// Valid, not mobile.
		{"UK fixed line", "+442079460000", ErrNotMobile},
		{"France fixed line", "+33123456789", ErrNotMobile},
		{"Delhi fixed line", "+911123456789", ErrNotMobile},
		{"Italy fixed line, leading zero", "+390612345678", ErrNotMobile},
		{"US toll-free", "+18005550199", ErrNotMobile},
		{"international freephone", "+80012345678", ErrNotMobile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Parse(%q) error: %v", tt.in, err)
				}
				if got != tt.in {
					t.Errorf("Parse(%q) = %q, want it unchanged", tt.in, got)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse(%q) = %q, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			if got != "" {
				t.Errorf("Parse(%q) returned %q with its error", tt.in, got)
			}
			if leak := longestDigitRun(tt.in, err.Error()); leak > 4 {
				t.Errorf("error %q repeats %d consecutive digits of the input", err, leak)
			}
		})
	}
}

// Parse relies on GetNumberType returning UNKNOWN exactly for the numbers
// IsValidNumber rejects; check it on every well-formed input of the tests, so
// that a change of the library's internals shows up here.
func TestNumberTypeUnknownIffInvalid(t *testing.T) {
	inputs := []string{
		"+919876543210", "+918067218010", "+14035551111", "+12015550123", "+447400123456",
		"+6835555", "+999123456789", "+919876543210000", "+91987654321", "+10115551111",
		"+447700900123", "+5215512345678", "+442079460000", "+390612345678", "+18005550199",
		"+80012345678", "+881612345678", "+12423570000", "+4915123456789", "+14415551234",
	}
	for _, in := range inputs {
		n, err := phonenumbers.Parse(in, phonenumbers.UNKNOWN_REGION)
		if err != nil {
			continue
		}
		valid := phonenumbers.IsValidNumber(n)
		typed := phonenumbers.GetNumberType(n) != phonenumbers.UNKNOWN
		if valid != typed {
			t.Errorf("%s: IsValidNumber = %t but GetNumberType != UNKNOWN is %t", Mask(in), valid, typed)
		}
	}
}

// The three sentinels must stay apart: the caller maps them to different
// outcomes.
func TestParseErrorsDistinct(t *testing.T) {
	for in, want := range map[string]error{
		"919876543210":   ErrNotE164,
		"+447700900123":  ErrInvalid,
		"+442079460000":  ErrNotMobile,
		"+4407400123456": ErrNotE164,
	} {
		_, err := Parse(in)
		for _, other := range []error{ErrNotE164, ErrInvalid, ErrNotMobile} {
			if other != want && errors.Is(err, other) {
				t.Errorf("Parse(%q) = %v, also matches %v", in, err, other)
			}
		}
	}
}

func TestParseNotMobileNamesType(t *testing.T) {
	_, err := Parse("+18005550199")
	if want := "not a mobile number (toll-free)"; err == nil || err.Error() != want {
		t.Errorf("Parse(toll-free) error = %v, want %q", err, want)
	}
}

// Parse is on the request path; libphonenumber keeps a shared regexp cache,
// so make sure -race sees concurrent use.
func TestParseConcurrent(t *testing.T) {
	inputs := []string{"+919876543210", "+442079460000", "+33612345678", "+14035551111", "+4915123456789"}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				in := inputs[(i+j)%len(inputs)]
				_, err := Parse(in)
				if in == "+442079460000" {
					if !errors.Is(err, ErrNotMobile) {
						t.Errorf("Parse(%q) = %v, want ErrNotMobile", in, err)
					}
				} else if err != nil {
					t.Errorf("Parse(%q): %v", in, err)
				}
			}
		})
	}
	wg.Wait()
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+919876543210", "+********3210"},
		{"+14035551111", "+*******1111"},
		{"+6835555", "+***5555"},
		{"+999123456789012", "+***********9012"}, // 15 digits, the E.164 maximum
		{"", ""},
		{"+", "+"},
		{"+1234", "+****"}, // short: the last 4 would be all of it
		{"1234", "****"},
		{"919876543210", "********3210"},
		{"+91 98765 43210", "+**********3210"},
		{"+91987654321O", "+************"}, // does not end in 4 digits
		{"not a phone", "***********"},
		{"+" + strings.Repeat("9", 300), "+" + strings.Repeat("*", 15) + "9999"},
		{"+९१९८७६५४३२१०", "+************"}, // non-ASCII digits are not kept
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// longestDigitRun returns the length of the longest run of consecutive digits
// of in's digits that appears in msg.
func longestDigitRun(in, msg string) int {
	var digits []byte
	for i := 0; i < len(in); i++ {
		if c := in[i]; c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	best := 0
	for i := range digits {
		for j := i + best + 1; j <= len(digits); j++ {
			if !strings.Contains(msg, string(digits[i:j])) {
				break
			}
			best = j - i
		}
	}
	return best
}

func BenchmarkParse(b *testing.B) {
	for _, bb := range []struct{ name, in string }{
		{"IndiaMobile", "+919876543210"},
		{"CanadaFixedOrMobile", "+14035551111"},
		{"UKFixedLine", "+442079460000"},
		{"BadSyntax", "+91 98765 43210"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Parse(bb.in)
			}
		})
	}
}

func BenchmarkParseParallel(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = Parse("+919876543210")
		}
	})
}

func BenchmarkMask(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Mask("+919876543210")
	}
}
