package sms

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// Flow names the OTP flow a message is for; each has its own template.
type Flow string

// The flows of otpgate.
const (
	// FlowLegacy is sendOtp: the text carries Google's smsMatchingToken
	// alone on its first line, then the template with {code}.
	FlowLegacy Flow = "legacy"
	// FlowCard is India Cards' authenticate and resendOtp: no token line;
	// the template may name {amount}, {amount_value} and {last4}.
	FlowCard Flow = "card"
)

// Placeholders of a template's text besides {code} ([CodePlaceholder]),
// available in the card flow only.
const (
	// AmountPlaceholder is the amount with its currency code first:
	// "INR 728.00". See [Amount] for the digits.
	AmountPlaceholder = "{amount}"
	// AmountValuePlaceholder is the amount's number only, "728.00", for a
	// text (and a DLT template) that writes the currency itself, as in
	// "INR {amount_value}" or "Rs. {amount_value}". A template that uses it
	// must set its Currency: an amount in another currency is then refused
	// rather than stated under the wrong one.
	AmountValuePlaceholder = "{amount_value}"
	// Last4Placeholder is the last four digits of the card.
	Last4Placeholder = "{last4}"
)

// placeholder is one of the variable parts of a message.
type placeholder uint8

const (
	phNone  placeholder = iota
	phToken             // the smsMatchingToken line of the legacy flow, not written in templates
	phCode
	phAmount
	phAmountValue
	phLast4
	phCount
)

func (p placeholder) String() string {
	switch p {
	case phToken:
		return "{smsMatchingToken}"
	case phCode:
		return CodePlaceholder
	case phAmount:
		return AmountPlaceholder
	case phAmountValue:
		return AmountValuePlaceholder
	case phLast4:
		return Last4Placeholder
	}
	return ""
}

// Vars are the values of one message.
type Vars struct {
	Code string // exactly CodeLength ASCII digits
	// SMSMatchingToken is Google's token of a sendOtp: required in the
	// legacy flow, empty in the card flow.
	SMSMatchingToken string
	// Amount is the authenticate's amount; needed when the card template
	// names {amount} or {amount_value}, ignored otherwise.
	Amount *Amount
	// Last4 is the last four digits of the card the user knows; needed
	// when the card template names {last4}, ignored otherwise.
	Last4 string
}

// Template is the text of one flow's SMS and, in India, its DLT
// registration. The JSON names are those of a configuration file.
type Template struct {
	// Text has {code} exactly once; in the card flow it may also name
	// {amount}, {amount_value} and {last4}. Any other {name} is refused,
	// as a probable typing mistake. In the legacy flow the smsMatchingToken
	// goes on a line of its own before Text.
	Text string `json:"text"`
	// Currency, when set, is the only currency this template states
	// amounts in (ISO 4217, "INR"); required by {amount_value}.
	Currency string `json:"currency,omitempty"`

	// India DLT. EntityID, TemplateID and DLTTemplate go together; Header
	// is optional (the provider's own source address is used without it).
	EntityID   string `json:"entityId,omitempty"`   // principal entity id (PE ID), digits
	TemplateID string `json:"templateId,omitempty"` // content template id, digits
	Header     string `json:"header,omitempty"`     // registered sender id, e.g. "XYZBNK"
	// DLTTemplate is the content template as registered, with a {#var#}
	// for each variable part. The legacy flow's must begin with the
	// token's line: "{#var#}\n…".
	DLTTemplate string `json:"dltTemplate,omitempty"`
}

// TemplateSetConfig configures a [TemplateSet].
type TemplateSetConfig struct {
	CodeLength int // digits of every code, at least 1
	// MaxAmountDigits is the most digits before the point of an amount
	// that a text may state; 0 means DefaultMaxAmountDigits. Longer
	// amounts are refused when rendered, so that the lengths checked at
	// start hold.
	MaxAmountDigits int
	// Templates by flow. FlowLegacy is required. Without FlowCard, the card
	// flow uses the legacy template's text and DLT registration without the
	// token line, as one template did for both before (which cannot match
	// a DLT template that has the token line: give the card flow its own).
	Templates map[Flow]Template
}

// maxAmountDigits bounds MaxAmountDigits: an int64 of micros has 13 digits
// of major units at most.
const maxAmountDigits = 13

// TemplateSet renders the SMS of each flow. It is safe for concurrent use:
// nothing in it changes after [NewTemplateSet].
type TemplateSet struct {
	codeLength, maxAmountDigits int
	flows                       map[Flow]*flowTemplate
}

// flowTemplate is one flow's template, checked and parsed.
type flowTemplate struct {
	name      string // for errors: "legacy", "card"
	units     []unit // the whole message, token line included
	uses      [phCount]bool
	currency  string
	dlt       *DLT
	dltParsed *dltTemplate
}

// NewTemplateSet checks every template once, at start, so that a template
// that cannot be sent is a configuration error rather than a failure of
// every send:
//
//   - the text is valid UTF-8, has {code} exactly once, and names only the
//     placeholders of its flow;
//   - the message fits one SMS (160 GSM-7 septets or 70 UCS-2 units, the
//     same 140 bytes) with every variable at its longest: the 11-character
//     token line, a code of CodeLength digits, an amount of MaxAmountDigits
//     digits with the most decimals of its currency, 4 digits of a card;
//   - with DLT ids, the ids are digits, the header letters and digits, and
//     the text can match the registered template (see [DLTVarMaxChars]);
//     the error then shows both texts and where they part.
func NewTemplateSet(cfg TemplateSetConfig) (*TemplateSet, error) {
	if cfg.CodeLength < 1 {
		return nil, fmt.Errorf("sms: code length must be at least 1, got %d", cfg.CodeLength)
	}
	s := &TemplateSet{codeLength: cfg.CodeLength, maxAmountDigits: cfg.MaxAmountDigits, flows: map[Flow]*flowTemplate{}}
	switch {
	case s.maxAmountDigits == 0:
		s.maxAmountDigits = DefaultMaxAmountDigits
	case s.maxAmountDigits < 1 || s.maxAmountDigits > maxAmountDigits:
		return nil, fmt.Errorf("sms: the most digits of an amount must be 1 to %d, got %d", maxAmountDigits, cfg.MaxAmountDigits)
	}
	for flow := range cfg.Templates {
		if flow != FlowLegacy && flow != FlowCard {
			return nil, fmt.Errorf("sms: template for unknown flow %q: the flows are %q and %q", flow, FlowLegacy, FlowCard)
		}
	}
	legacy, ok := cfg.Templates[FlowLegacy]
	if !ok {
		return nil, fmt.Errorf("sms: no template for the %s flow (sendOtp)", FlowLegacy)
	}
	card, ok := cfg.Templates[FlowCard]
	cardName := string(FlowCard)
	if !ok {
		card, cardName = legacy, "card (the legacy template, without the token line)"
	}
	for _, t := range []struct {
		flow Flow
		name string
		tmpl Template
	}{{FlowLegacy, string(FlowLegacy), legacy}, {FlowCard, cardName, card}} {
		ft, err := s.compile(t.flow, t.name, t.tmpl)
		if err != nil {
			return nil, err
		}
		s.flows[t.flow] = ft
	}
	return s, nil
}

// CodeLength is the number of digits of the codes s renders.
func (s *TemplateSet) CodeLength() int { return s.codeLength }

// Placeholders returns the placeholders that flow's text names, {code}
// first, so that the caller can check it provides their values; nil for an
// unknown flow.
func (s *TemplateSet) Placeholders(flow Flow) []string {
	ft := s.flows[flow]
	if ft == nil {
		return nil
	}
	var names []string
	for p := phCode; p < phCount; p++ {
		if ft.uses[p] {
			names = append(names, p.String())
		}
	}
	return names
}

// compile checks and parses one template.
func (s *TemplateSet) compile(flow Flow, name string, t Template) (*flowTemplate, error) {
	prefix := "sms: " + name + " template"
	if !utf8.ValidString(t.Text) {
		return nil, fmt.Errorf("%s: text is not valid UTF-8", prefix)
	}
	ft := &flowTemplate{name: name}
	if flow == FlowLegacy {
		ft.units = append(ft.units, unit{ph: phToken}, unit{r: '\n'})
		ft.uses[phToken] = true
	}
	body, err := parseText(t.Text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	ft.units = append(ft.units, body...)
	codes := 0
	for _, u := range body {
		ft.uses[u.ph] = true
		if u.ph == phCode {
			codes++
		}
		if flow != FlowCard && (u.ph == phAmount || u.ph == phAmountValue || u.ph == phLast4) {
			return nil, fmt.Errorf("%s: %s is only for the %s flow: a %s message has no amount nor card", prefix, u.ph, FlowCard, flow)
		}
	}
	if codes != 1 {
		more := ""
		if strings.Contains(t.Text, DLTVar) {
			more = fmt.Sprintf(" (the text has %s: write otpgate's placeholders where the DLT template has its variables)", DLTVar)
		}
		return nil, fmt.Errorf("%s: text must contain %s exactly once, found %d%s", prefix, CodePlaceholder, codes, more)
	}

	if t.Currency != "" {
		if !validCurrency(t.Currency) {
			return nil, fmt.Errorf("%s: currency %q is not three capital letters (ISO 4217)", prefix, t.Currency)
		}
		ft.currency = t.Currency
	}
	if ft.uses[phAmountValue] && ft.currency == "" {
		return nil, fmt.Errorf("%s: %s states no currency: set the template's currency, the one its text writes", prefix, AmountValuePlaceholder)
	}

	// The longest message: every variable at its widest, in characters that
	// are one GSM-7 septet each (a token outside GSM-7 is measured again,
	// for real, by Render, as Compose does).
	if problem := lengthProblem(s.sample(ft)); problem != "" {
		return nil, fmt.Errorf("%w: %s too long: with %s the message is %s", ErrTooLong, prefix, s.describeWidest(ft), problem)
	}

	if err := s.compileDLT(ft, t); err != nil {
		var mismatch *DLTMismatchError
		if errors.As(err, &mismatch) {
			return nil, err // it names the template
		}
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	return ft, nil
}

// compileDLT checks the DLT registration of a template, if it has one.
func (s *TemplateSet) compileDLT(ft *flowTemplate, t Template) error {
	if t.EntityID == "" && t.TemplateID == "" && t.DLTTemplate == "" && t.Header == "" {
		return nil
	}
	switch {
	case t.EntityID == "" || t.TemplateID == "" || t.DLTTemplate == "":
		return errors.New("DLT: the entity id, template id and registered template go together: set all three or none")
	case !allDigits(t.EntityID):
		return fmt.Errorf("DLT entity id %q: not all digits", t.EntityID)
	case !allDigits(t.TemplateID):
		return fmt.Errorf("DLT template id %q: not all digits", t.TemplateID)
	case t.Header != "" && !validHeader(t.Header):
		return fmt.Errorf("DLT header %q: must be 1 to 11 ASCII letters and digits", t.Header)
	}
	parsed, err := parseDLTTemplate(t.DLTTemplate)
	if err != nil {
		return err
	}
	ft.dlt = &DLT{EntityID: t.EntityID, TemplateID: t.TemplateID, Header: t.Header}
	ft.dltParsed = parsed
	if ft.uses[phToken] && !strings.HasPrefix(t.DLTTemplate, DLTVar+"\n") {
		// Said plainly: the matcher would find where they part, not why.
		f := &matchFailure{reason: fmt.Sprintf("the %s flow's message begins with the smsMatchingToken on a line of its own, so its DLT template must begin with %q",
			FlowLegacy, DLTVar+"\n")}
		if strings.HasPrefix(t.DLTTemplate, DLTVar) {
			f.tpl, f.dlt = 1, len(DLTVar)
		}
		return mismatchError(ft.name, ft.units, ft.dlt, parsed, f)
	}
	m := newDLTMatcher(ft.units, func(p placeholder) int { return s.width(ft, p) }, parsed)
	if !m.match() {
		return mismatchError(ft.name, ft.units, ft.dlt, parsed, m.failure())
	}
	// The regular expression is what Render holds every message to; the
	// widest message must pass it too, or the matcher above is wrong.
	if !parsed.re.MatchString(s.sample(ft)) {
		return fmt.Errorf("%w: the longest message does not match DLT template %s %q (a bug in otpgate's matcher)",
			ErrDLTMismatch, t.TemplateID, t.DLTTemplate)
	}
	return nil
}

// width is the most characters the value of a placeholder of ft has.
func (s *TemplateSet) width(ft *flowTemplate, p placeholder) int {
	switch p {
	case phToken:
		return TokenLength
	case phCode:
		return s.codeLength
	case phAmount:
		return len("XXX ") + amountValueWidth(ft.currency, s.maxAmountDigits)
	case phAmountValue:
		return amountValueWidth(ft.currency, s.maxAmountDigits)
	case phLast4:
		return 4
	}
	return 0
}

// sample is the widest message of ft, in one-septet characters.
func (s *TemplateSet) sample(ft *flowTemplate) string {
	var b strings.Builder
	for _, u := range ft.units {
		switch u.ph {
		case phNone:
			b.WriteRune(u.r)
		case phToken:
			b.WriteString(strings.Repeat("A", TokenLength))
		case phAmount:
			b.WriteString("XXX ")
			b.WriteString(strings.Repeat("9", amountValueWidth(ft.currency, s.maxAmountDigits)))
		default:
			b.WriteString(strings.Repeat("0", s.width(ft, u.ph)))
		}
	}
	return b.String()
}

// describeWidest says which widths a template was measured with.
func (s *TemplateSet) describeWidest(ft *flowTemplate) string {
	var parts []string
	if ft.uses[phToken] {
		parts = append(parts, fmt.Sprintf("the %d-character token line", TokenLength))
	}
	parts = append(parts, fmt.Sprintf("a %d-digit code", s.codeLength))
	if ft.uses[phAmount] {
		parts = append(parts, fmt.Sprintf("an amount of up to %d characters", s.width(ft, phAmount)))
	} else if ft.uses[phAmountValue] {
		parts = append(parts, fmt.Sprintf("an amount of up to %d characters", s.width(ft, phAmountValue)))
	}
	if ft.uses[phLast4] {
		parts = append(parts, "4 digits of the card")
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// parseText cuts a template's text into characters and placeholders.
func parseText(text string) ([]unit, error) {
	var units []unit
	for i := 0; i < len(text); {
		if text[i] == '{' {
			if end := strings.IndexByte(text[i:], '}'); end > 0 && isName(text[i+1:i+end]) {
				name := text[i : i+end+1]
				ph := placeholderNamed(name)
				if ph == phNone {
					return nil, fmt.Errorf("unknown placeholder %s: a text may name %s, and in the %s flow %s, %s and %s",
						name, CodePlaceholder, FlowCard, AmountPlaceholder, AmountValuePlaceholder, Last4Placeholder)
				}
				units = append(units, unit{ph: ph})
				i += end + 1
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		units = append(units, unit{r: r})
		i += size
	}
	return units, nil
}

// isName reports whether s looks like a placeholder's name: a letter, then
// letters, digits and underscores.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '_'):
		default:
			return false
		}
	}
	return true
}

func placeholderNamed(name string) placeholder {
	for p := phCode; p < phCount; p++ {
		if p.String() == name {
			return p
		}
	}
	return phNone
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// validHeader reports whether h can be an alphanumeric sender id: at most
// 11 characters (the limit of an alphanumeric SMS originator, and of SMPP's
// source_addr with TON alphanumeric), ASCII letters and digits.
func validHeader(h string) bool {
	if len(h) < 1 || len(h) > 11 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Render returns the message of flow with the values v: its Text, its Flow
// and, when the template is registered for DLT, a copy of its DLT ids. The
// caller sets To.
//
// Render refuses values that do not fit what was checked at start: a code
// that is not CodeLength ASCII digits, a missing or malformed token in the
// legacy flow or any token in the card flow, a missing amount or last4 that
// the template names, an amount in another currency than the template's, of
// more than MaxAmountDigits digits, or not in whole minor units. It fails,
// wrapping [ErrTooLong], rather than return a text that does not fit one SMS
// (a token outside GSM-7 can push it over). Errors never contain the code.
//
// A text that does not match the template's DLT registration is refused,
// wrapping [ErrDLTMismatch], rather than sent for the operator to drop.
// NewTemplateSet has proved that this cannot happen; in a test binary
// (testing.Testing) Render panics instead, so that the bug is not missed.
func (s *TemplateSet) Render(flow Flow, v Vars) (Message, error) {
	ft := s.flows[flow]
	if ft == nil {
		return Message{}, fmt.Errorf("sms: no template for flow %q", flow)
	}
	if err := checkCodeDigits(v.Code, s.codeLength); err != nil {
		return Message{}, err
	}
	switch {
	case ft.uses[phToken] && v.SMSMatchingToken == "":
		return Message{}, fmt.Errorf("sms: the %s flow needs the smsMatchingToken", flow)
	case ft.uses[phToken]:
		if err := checkToken(v.SMSMatchingToken); err != nil {
			return Message{}, err
		}
	case v.SMSMatchingToken != "":
		return Message{}, fmt.Errorf("sms: the %s flow has no smsMatchingToken line, yet one was given", flow)
	}
	var amount, amountValue string
	if ft.uses[phAmount] || ft.uses[phAmountValue] {
		if v.Amount == nil {
			return Message{}, fmt.Errorf("sms: the %s template names the amount, and none was given", ft.name)
		}
		if ft.currency != "" && v.Amount.Currency != ft.currency {
			return Message{}, fmt.Errorf("sms: the %s template states amounts in %s, not %q", ft.name, ft.currency, v.Amount.Currency)
		}
		var err error
		if amountValue, err = formatAmountValue(*v.Amount, s.maxAmountDigits); err != nil {
			return Message{}, err
		}
		amount = v.Amount.Currency + " " + amountValue
	}
	if ft.uses[phLast4] && (len(v.Last4) != 4 || !allDigits(v.Last4)) {
		return Message{}, fmt.Errorf("sms: the %s template names the card's last 4 digits, and %d bytes that are not 4 digits were given", ft.name, len(v.Last4))
	}

	var b strings.Builder
	for _, u := range ft.units {
		switch u.ph {
		case phNone:
			b.WriteRune(u.r)
		case phToken:
			b.WriteString(v.SMSMatchingToken)
		case phCode:
			b.WriteString(v.Code)
		case phAmount:
			b.WriteString(amount)
		case phAmountValue:
			b.WriteString(amountValue)
		case phLast4:
			b.WriteString(v.Last4)
		}
	}
	text := b.String()
	if problem := lengthProblem(text); problem != "" {
		return Message{}, fmt.Errorf("%w: the message is %s", ErrTooLong, problem)
	}
	m := Message{Text: text, Flow: flow}
	if ft.dlt != nil {
		if !ft.dltParsed.re.MatchString(text) {
			// Never the text: it holds the code.
			err := fmt.Errorf("%w: a %s message of %d characters does not match DLT template %s %q: refused rather than sent to be dropped",
				ErrDLTMismatch, ft.name, utf8.RuneCountInString(text), ft.dlt.TemplateID, ft.dltParsed.text)
			if testing.Testing() {
				panic(err)
			}
			return Message{}, err
		}
		d := *ft.dlt
		m.DLT = &d
	}
	return m, nil
}

// checkCodeDigits checks that code is n ASCII digits. The length is reported,
// never the code itself.
func checkCodeDigits(code string, n int) error {
	if len(code) != n {
		return fmt.Errorf("sms: code must be %d digits, got %d bytes", n, len(code))
	}
	if !allDigits(code) {
		return fmt.Errorf("sms: code must be %d ASCII digits, found a non-digit", n)
	}
	return nil
}
