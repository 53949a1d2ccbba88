// Package phone validates the phone numbers that identify accounts: strict
// E.164, as Google sends them in accountPhoneNumber, and mobile only, because
// the number has to be able to receive an SMS.
//
// Phone numbers are personal data. Nothing in this package puts a full number
// in an error message; callers that need to name a number in a log line or an
// error use [Mask].
package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// The errors of [Parse]. They are returned wrapped with a short reason that
// never contains the number; test for them with errors.Is.
var (
	// ErrNotE164 means the string is not written as E.164: '+', then the
	// country code and the national number, digits only.
	ErrNotE164 = errors.New("not in E.164 format")
	// ErrInvalid means the string is E.164 but not a valid number for the
	// country (wrong length, unassigned range, no such country code, …).
	ErrInvalid = errors.New("not a valid phone number")
	// ErrNotMobile means the number is valid but cannot be assumed to
	// receive SMS: a fixed line, toll-free, premium rate, VoIP, pager, ….
	ErrNotMobile = errors.New("not a mobile number")
)

// maxDigits is the longest number E.164 allows (country code included).
const maxDigits = 15

// Parse checks that s is a mobile phone number in strict E.164 form and
// returns it in canonical E.164 form.
//
// Strict means exactly what Google sends: '+', a country code that does not
// start with 0, and at most 15 digits in all, with no spaces, dashes,
// parentheses, letters or extensions. libphonenumber on its own would accept
// all of those, and also a national trunk prefix after the country code
// ("+44 07400…"), which it silently drops; Parse rejects that too
// ([ErrNotE164]), so that for every accepted s the result equals s and one
// account can never be spelled two ways.
//
// The number must then be valid for its country ([ErrInvalid]) and of type
// MOBILE or FIXED_LINE_OR_MOBILE ([ErrNotMobile]). The latter is what
// libphonenumber reports wherever mobile and fixed ranges cannot be told apart
// (all of the NANP, and parts of India's ranges), so refusing it would refuse
// every US and Canadian number.
func Parse(s string) (string, error) {
	if err := checkSyntax(s); err != nil {
		return "", err
	}
	// With a leading '+' the region is taken from the number itself, so the
	// default region is only the "unknown" placeholder.
	n, err := phonenumbers.Parse(s, phonenumbers.UNKNOWN_REGION)
	if err != nil {
		// The syntax is fine, so what is left is an unknown country code or a
		// number too short or too long to be one. Not wrapping err: its
		// message is the library's and it adds nothing the caller can act on.
		return "", ErrInvalid
	}
	// The parser drops a trunk prefix ("+44 0…") and would turn other
	// non-canonical spellings into the canonical one; strict means the input
	// already is canonical.
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	if e164 != s {
		return "", fmt.Errorf("%w: not canonical (national prefix after the country code?)", ErrNotE164)
	}
	// GetNumberType is UNKNOWN exactly when IsValidNumber is false: both
	// match the national number against the same region's patterns. Calling
	// only GetNumberType halves the regexp work, which is most of Parse's
	// cost (TestNumberTypeUnknownIffInvalid guards the equivalence).
	switch t := phonenumbers.GetNumberType(n); t {
	case phonenumbers.UNKNOWN:
		return "", ErrInvalid
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return "", fmt.Errorf("%w (%s)", ErrNotMobile, typeName(t))
	}
	return e164, nil
}

// checkSyntax is the cheap, strict check done before libphonenumber, whose
// parser is lenient by design (it extracts a number from free text).
func checkSyntax(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrNotE164)
	}
	if s[0] != '+' {
		return fmt.Errorf("%w: must start with '+'", ErrNotE164)
	}
	digits := s[1:]
	if digits == "" {
		return fmt.Errorf("%w: no digits after '+'", ErrNotE164)
	}
	if len(digits) > maxDigits {
		return fmt.Errorf("%w: more than %d digits", ErrNotE164, maxDigits)
	}
	for i := 0; i < len(digits); i++ {
		if c := digits[i]; c < '0' || c > '9' {
			return fmt.Errorf("%w: only digits may follow '+'", ErrNotE164)
		}
	}
	if digits[0] == '0' {
		return fmt.Errorf("%w: country code starts with 0", ErrNotE164)
	}
	return nil
}

// typeName names a number type for an error message.
func typeName(t phonenumbers.PhoneNumberType) string {
	switch t {
	case phonenumbers.FIXED_LINE:
		return "fixed line"
	case phonenumbers.TOLL_FREE:
		return "toll-free"
	case phonenumbers.PREMIUM_RATE:
		return "premium rate"
	case phonenumbers.SHARED_COST:
		return "shared cost"
	case phonenumbers.VOIP:
		return "VoIP"
	case phonenumbers.PERSONAL_NUMBER:
		return "personal number"
	case phonenumbers.PAGER:
		return "pager"
	case phonenumbers.UAN:
		return "UAN"
	case phonenumbers.VOICEMAIL:
		return "voicemail"
	default:
		return "unknown type"
	}
}

// Mask hides all of a phone number but its last 4 digits, for logs and error
// messages: "+919876543210" becomes "+********3210".
//
// It accepts any string, not only valid numbers, since the strings that need
// masking most are the ones that failed validation. A leading '+' is kept;
// every other character becomes '*' except the last 4 when they are all ASCII
// digits. A string of 4 characters or fewer after the '+' is masked entirely,
// as its last 4 digits would be all of it. The number of '*' follows the
// length up to the 15 digits of E.164 and is capped beyond that, so that
// garbage input cannot make a log line arbitrarily long.
func Mask(s string) string {
	const keep = 4
	var b strings.Builder
	if strings.HasPrefix(s, "+") {
		b.WriteByte('+')
		s = s[1:]
	}
	runes := []rune(s)
	tail := ""
	if len(runes) > keep && allDigits(runes[len(runes)-keep:]) {
		tail = string(runes[len(runes)-keep:])
		runes = runes[:len(runes)-keep]
	}
	b.WriteString(strings.Repeat("*", min(len(runes), maxDigits)))
	b.WriteString(tail)
	return b.String()
}

func allDigits(rs []rune) bool {
	for _, r := range rs {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
