package sms

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultTemplate is the text of the SMS when none is configured. It is plain
// GSM-7, so that it leaves room for long codes and never forces UCS-2.
const DefaultTemplate = "Your verification code is {code}. Do not share it with anyone."

// CodePlaceholder is replaced by the code in a template.
const CodePlaceholder = "{code}"

// TokenLength is the length, in characters, of the smsMatchingToken that
// Google sends with sendOtp and that must appear in the SMS so that Android
// hands the message to Google Pay (SmsManager.createAppSpecificSmsToken).
const TokenLength = 11

// ErrTooLong is wrapped by the errors of [NewComposer] and
// [Composer.Compose] when a message would not fit one SMS.
var ErrTooLong = errors.New("sms: message does not fit one SMS")

// Composer builds the text of an OTP message from a template. It is safe for
// concurrent use: it is not modified after [NewComposer].
type Composer struct {
	prefix, suffix string // the template around its single {code}
	codeLength     int
}

// NewComposer returns a Composer for codes of codeLength digits. The template
// must contain {code} exactly once, and must leave room in one SMS for the
// smsMatchingToken line and the code: NewComposer checks this once, at start,
// with a token of ordinary characters, so that a template that is too long is
// a configuration error rather than a failure on every send.
func NewComposer(template string, codeLength int) (*Composer, error) {
	if codeLength < 1 {
		return nil, fmt.Errorf("sms: code length must be at least 1, got %d", codeLength)
	}
	if !utf8.ValidString(template) {
		return nil, errors.New("sms: template is not valid UTF-8")
	}
	if n := strings.Count(template, CodePlaceholder); n != 1 {
		return nil, fmt.Errorf("sms: template must contain %s exactly once, found %d", CodePlaceholder, n)
	}
	prefix, suffix, _ := strings.Cut(template, CodePlaceholder)
	c := &Composer{prefix: prefix, suffix: suffix, codeLength: codeLength}

	// Tokens are normally base64 ([A-Za-z0-9+/]): GSM-7, one septet each. A
	// token outside that set is measured again, for real, by Compose.
	sample := c.text(strings.Repeat("A", TokenLength), strings.Repeat("0", codeLength))
	if problem := lengthProblem(sample); problem != "" {
		return nil, fmt.Errorf("%w: template too long: with the %d-character token line and a %d-digit code the message is %s",
			ErrTooLong, TokenLength, codeLength, problem)
	}
	return c, nil
}

// CodeLength is the number of digits of the codes c accepts.
func (c *Composer) CodeLength() int { return c.codeLength }

// Compose returns the SMS text: the smsMatchingToken alone on the first line,
// then the template with the code in place of {code}, for example
//
//	AB12345678C
//	Your verification code is 123456. Do not share it with anyone.
//
// The code must be exactly CodeLength ASCII digits and the token exactly
// TokenLength characters, none of them a control or space character (they
// would break the token's line). Compose fails, wrapping [ErrTooLong], rather
// than return a text that does not fit one SMS: a split or truncated message
// would lose the token or the code. Errors never contain the code.
//
// An empty token (India Cards' authenticate and resendOtp carry none) leaves
// out the token line; any other token must be well formed.
func (c *Composer) Compose(code, smsMatchingToken string) (string, error) {
	if err := c.checkCode(code); err != nil {
		return "", err
	}
	if smsMatchingToken == "" {
		return c.prefix + code + c.suffix, nil // shorter than the checked form: it fits
	}
	if err := checkToken(smsMatchingToken); err != nil {
		return "", err
	}
	text := c.text(smsMatchingToken, code)
	if problem := lengthProblem(text); problem != "" {
		return "", fmt.Errorf("%w: the message is %s", ErrTooLong, problem)
	}
	return text, nil
}

func (c *Composer) text(token, code string) string {
	return token + "\n" + c.prefix + code + c.suffix
}

func (c *Composer) checkCode(code string) error {
	return checkCodeDigits(code, c.codeLength)
}

func checkToken(token string) error {
	if !utf8.ValidString(token) {
		return errors.New("sms: smsMatchingToken is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(token); n != TokenLength {
		return fmt.Errorf("sms: smsMatchingToken must be %d characters, got %d", TokenLength, n)
	}
	for _, r := range token {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return fmt.Errorf("sms: smsMatchingToken contains %U, a control or space character", r)
		}
	}
	return nil
}

// lengthProblem says how long text is, in which encoding, and what the limit
// is, when text does not fit one SMS; it returns "" when it fits.
func lengthProblem(text string) string {
	name, units := Encoding(text)
	lim := limit(name)
	if units <= lim {
		return ""
	}
	if name == GSM7 {
		return fmt.Sprintf("%d GSM-7 septets, over the limit of %d", units, lim)
	}
	r, _ := firstNonGSM(text)
	return fmt.Sprintf("%d UCS-2 units, over the limit of %d (UCS-2 because %q is not in the GSM-7 alphabet)",
		units, lim, r)
}
