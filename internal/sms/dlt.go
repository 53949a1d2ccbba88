package sms

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DLTVar is the placeholder of a variable in a DLT content template.
const DLTVar = "{#var#}"

// DLTVarMaxChars is how many characters one DLT variable may hold.
//
// The rule implemented: the operator's scrubber accepts a message when it is
// the registered template with each {#var#} replaced by 1 to 30 characters of
// variable content, the fixed text exactly as registered (case, spaces and
// punctuation included). TRAI's TCCCPR 2018 requires that every message
// match a registered content template; the 30-character bound per {#var#} is
// the DLT platforms' practice as the aggregators document it to senders, for
// example "Variable Vexations: Mastering the {#var#} Placeholder in DLT
// Content Templates" (smsdeals.co.in, October 2025: content longer than 30
// characters must be split over contiguous {#var#}) and "DLT Template
// Variable Rules in India" (startmessaging.com, 2026: 30 for alphanumeric
// and free-text variables, though it gives 15 as typical for numeric ones).
// Platforms differ (some state no fixed bound; some are laxer about spaces),
// so otpgate takes the strict reading, and also keeps line breaks out of
// variables. otpgate's own variables are short: a code of CodeLength digits,
// an amount of at most 22 characters, 4 digits of a card, an 11-character
// token.
const DLTVarMaxChars = 30

// ErrDLTMismatch is wrapped by the errors of a template whose text cannot
// match its registered DLT template: at start by [NewTemplateSet], and by
// [TemplateSet.Render] if a rendered text ever fails to match (a bug: the
// operator would drop that SMS without a word).
var ErrDLTMismatch = errors.New("sms: text does not match the registered DLT template")

// dltTemplate is a registered DLT content template, parsed.
type dltTemplate struct {
	text  string         // as registered
	fixed [][]rune       // the fixed texts around the variables: one more than variables
	re    *regexp.Regexp // what a message of this template matches
}

// parseDLTTemplate parses a registered template. A near-miss of {#var#}
// ("{#VAR#}", "{# var #}") is refused: it is probably a typing mistake, and
// as fixed text it would never match.
func parseDLTTemplate(text string) (*dltTemplate, error) {
	if text == "" {
		return nil, errors.New("empty DLT template")
	}
	if !utf8.ValidString(text) {
		return nil, errors.New("DLT template is not valid UTF-8")
	}
	parts := strings.Split(text, DLTVar)
	var re strings.Builder
	re.WriteString(`\A`)
	t := &dltTemplate{text: text}
	for i, p := range parts {
		if j := strings.Index(p, "{#"); j >= 0 || strings.Contains(p, "#}") {
			if j < 0 {
				j = strings.Index(p, "#}")
			}
			return nil, fmt.Errorf("DLT template %q: %q is not a variable: DLT variables are written %s exactly", text, excerpt(p[j:], 12), DLTVar)
		}
		if i > 0 {
			// Not (?s): a variable never holds a line break (see DLTVarMaxChars).
			fmt.Fprintf(&re, `(.{1,%d})`, DLTVarMaxChars)
		}
		re.WriteString(regexp.QuoteMeta(p))
		t.fixed = append(t.fixed, []rune(p))
	}
	re.WriteString(`\z`)
	// Each variable holds a character at least: a template whose shortest
	// message does not fit one SMS in any encoding cannot be otpgate's.
	if least := utf8.RuneCountInString(text) - (len(DLTVar)-1)*t.vars(); least > MaxGSM7Septets {
		return nil, fmt.Errorf("DLT template %q: its shortest message has %d characters, more than one SMS holds", excerpt(text, 40)+"…", least)
	}
	t.re = regexp.MustCompile(re.String()) // quoted text and a bounded repeat always compile
	return t, nil
}

// vars returns the number of variables of t.
func (t *dltTemplate) vars() int { return len(t.fixed) - 1 }

// unit is one character of a template's text or one of its placeholders.
type unit struct {
	r  rune        // the character, when ph is phNone
	ph placeholder // the placeholder, or phNone
}

// matchFailure is why an attempt to align a text with a DLT template failed,
// and where.
type matchFailure struct {
	tpl, dlt int // position in the units and in the DLT template's runes
	reason   string
}

// dltMatcher aligns the units of an otpgate template with a DLT template: it
// looks for a way to cut the units into the DLT template's fixed texts, in
// order and exactly, and between them one run of units per {#var#}, each of
// 1 to DLTVarMaxChars characters in the worst case, holding no line break
// and at most one placeholder. When one exists, every text the template
// renders (whose placeholders stay within their widths) is one the DLT
// template's regular expression matches.
type dltMatcher struct {
	units   []unit
	widths  func(placeholder) int // worst-case characters of a placeholder
	dlt     *dltTemplate
	varAt   []int           // position in the DLT template's runes of each {#var#}
	fixedAt []int           // and of each fixed text
	failed  map[[2]int]bool // (variable, unit) already known not to lead to a match
	// The attempts that got furthest into the DLT template: the text that
	// differs nearest the start of the otpgate text, and the limit that
	// kept the variable before it from reaching further.
	furthest      int
	nearest, wall *matchFailure
}

func newDLTMatcher(units []unit, widths func(placeholder) int, dlt *dltTemplate) *dltMatcher {
	m := &dltMatcher{units: units, widths: widths, dlt: dlt, failed: map[[2]int]bool{}}
	pos := 0
	for i, f := range dlt.fixed {
		if i > 0 {
			m.varAt = append(m.varAt, pos)
			pos += len(DLTVar)
		}
		m.fixedAt = append(m.fixedAt, pos)
		pos += len(f)
	}
	return m
}

// match reports whether the units can match the DLT template; when not,
// failure says why.
func (m *dltMatcher) match() bool { return m.fixedFrom(0, 0) }

// failure explains the attempt that got furthest into the DLT template: an
// earlier failure is only another cut that was tried.
func (m *dltMatcher) failure() *matchFailure {
	switch {
	case m.nearest == nil:
		f := *m.wall
		f.reason = "a " + DLTVar + " cannot stand for this text: " + f.reason
		return &f
	case m.wall != nil:
		f := *m.nearest
		f.reason += "; nor can the " + DLTVar + " before it reach further: " + m.wall.reason
		return &f
	}
	return m.nearest
}

// fail records that the text differs at unit tpl and rune dlt.
func (m *dltMatcher) fail(tpl, dlt int, format string, args ...any) {
	m.advance(dlt)
	if dlt == m.furthest && (m.nearest == nil || tpl < m.nearest.tpl) {
		m.nearest = &matchFailure{tpl: tpl, dlt: dlt, reason: fmt.Sprintf(format, args...)}
	}
}

// failLimit records that {#var#} number i cannot reach unit k.
func (m *dltMatcher) failLimit(i, k int, format string, args ...any) {
	dlt := m.varAt[i] + len(DLTVar)
	m.advance(dlt)
	if dlt == m.furthest && (m.wall == nil || k > m.wall.tpl) {
		m.wall = &matchFailure{tpl: k, dlt: dlt, reason: fmt.Sprintf(format, args...)}
	}
}

func (m *dltMatcher) advance(dlt int) {
	if dlt > m.furthest || m.nearest == nil && m.wall == nil {
		m.furthest, m.nearest, m.wall = dlt, nil, nil
	}
}

// fixedFrom matches fixed text i of the DLT template at unit j, then the rest.
func (m *dltMatcher) fixedFrom(i, j int) bool {
	f := m.dlt.fixed[i]
	for k, r := range f {
		at := m.fixedAt[i] + k
		if j+k >= len(m.units) {
			m.fail(j+k, at, "the otpgate text ends where the DLT template goes on with fixed text %q", string(f[k:]))
			return false
		}
		u := m.units[j+k]
		if u.ph != phNone {
			m.fail(j+k, at, "the otpgate text has %s where the DLT template has fixed text %q: only a %s can stand for a placeholder%s",
				u.ph, string(f[k:]), DLTVar, hint(u.ph, string(f[k:]), i < m.dlt.vars()))
			return false
		}
		if u.r != r {
			m.fail(j+k, at, "the fixed texts differ: the otpgate text has %q where the DLT template has %q", u.r, r)
			return false
		}
	}
	j += len(f)
	if i == m.dlt.vars() {
		if j < len(m.units) {
			m.fail(j, m.fixedAt[i]+len(f), "the otpgate text goes on after the end of the DLT template")
			return false
		}
		return true
	}
	return m.varFrom(i, j)
}

// varFrom matches {#var#} number i (from 0) at unit j, then the rest.
func (m *dltMatcher) varFrom(i, j int) bool {
	key := [2]int{i, j}
	if m.failed[key] {
		return false
	}
	at := m.varAt[i]
	width, held := 0, phNone
	for k := j; k < len(m.units); k++ {
		u := m.units[k]
		switch {
		case u.ph != phNone && held != phNone:
			m.failLimit(i, k, "it would hold both %s and %s, and a DLT variable stands for at most one placeholder here", held, u.ph)
			m.failed[key] = true
			return false
		case u.ph == phNone && (u.r == '\n' || u.r == '\r'):
			m.failLimit(i, k, "it would hold a line break")
			m.failed[key] = true
			return false
		case u.ph != phNone:
			held = u.ph
			width += m.widths(u.ph)
		default:
			width++
		}
		if width > DLTVarMaxChars {
			what := "fixed text"
			switch {
			case held != phNone && width > m.widths(held):
				what = fmt.Sprintf("%s (up to %d characters) and fixed text", held, m.widths(held))
			case held != phNone:
				what = held.String()
			}
			m.failLimit(i, k, "it would hold %s, up to %d characters in all, over the %d a DLT variable may hold", what, width, DLTVarMaxChars)
			m.failed[key] = true
			return false
		}
		if m.fixedFrom(i+1, k+1) {
			return true
		}
	}
	if j >= len(m.units) {
		m.fail(j, at, "the otpgate text ends where the DLT template has a %s", DLTVar)
	}
	m.failed[key] = true
	return false
}

// hint suggests the fix for a placeholder where the DLT template has fixed
// text, when the DLT template writes the currency before the amount.
func hint(ph placeholder, fixed string, varFollows bool) string {
	switch ph {
	case phAmount:
		cur := strings.TrimSpace(fixed)
		if !varFollows || !(validCurrency(cur) || cur == "Rs" || cur == "Rs." || cur == "₹") {
			return ""
		}
		code := cur
		if !validCurrency(cur) {
			code = "INR"
		}
		return fmt.Sprintf(" (the DLT template writes the currency as fixed text: write %q and set the template's currency to %q)",
			fixed+phAmountValue.String(), code)
	}
	return ""
}

// DLTMismatchError is the error of [NewTemplateSet] for a template whose
// text cannot match its registered DLT template. It wraps [ErrDLTMismatch].
type DLTMismatchError struct {
	Template    string // which template: "legacy", "card"
	TemplateID  string // its DLT template id
	Reason      string // why they part
	Text        string // the template's whole message, placeholders in braces
	DLTTemplate string // the registered template
	// TextAt and DLTAt are where they part: the number of characters of
	// Text and of DLTTemplate before that point.
	TextAt, DLTAt int
}

func (e *DLTMismatchError) Error() string {
	text, dlt := []rune(e.Text), []rune(e.DLTTemplate)
	return fmt.Sprintf("sms: %s template does not match its DLT template %s: %s\n"+
		"\totpgate text:  %q\n"+
		"\tDLT template:  %q\n"+
		"\tthey part after character %d of the otpgate text and %d of the DLT template:\n"+
		"\totpgate text:  %s\n"+
		"\tDLT template:  %s",
		e.Template, e.TemplateID, e.Reason, e.Text, e.DLTTemplate, e.TextAt, e.DLTAt,
		pointAt(text, e.TextAt), pointAt(dlt, e.DLTAt))
}

// Unwrap returns ErrDLTMismatch.
func (e *DLTMismatchError) Unwrap() error { return ErrDLTMismatch }

// mismatchError explains why the text of a template cannot match its DLT
// template: both texts in full, the reason, and where they part.
func mismatchError(name string, units []unit, d *DLT, dlt *dltTemplate, f *matchFailure) *DLTMismatchError {
	var shown strings.Builder
	at := -1 // characters of shown before unit f.tpl
	for i, u := range units {
		if i == f.tpl {
			at = utf8.RuneCountInString(shown.String())
		}
		if u.ph != phNone {
			shown.WriteString(u.ph.String())
		} else {
			shown.WriteRune(u.r)
		}
	}
	if at < 0 {
		at = utf8.RuneCountInString(shown.String())
	}
	return &DLTMismatchError{Template: name, TemplateID: d.TemplateID, Reason: f.reason,
		Text: shown.String(), DLTTemplate: dlt.text, TextAt: at, DLTAt: f.dlt}
}

// pointAt shows a little of s before and after character i, marked "⟩".
func pointAt(s []rune, i int) string {
	const ctx = 16
	before, after := s[:i], s[i:]
	b, a := string(before), string(after)
	if len(before) > ctx {
		b = "…" + string(before[len(before)-ctx:])
	}
	if len(after) > ctx {
		a = string(after[:ctx]) + "…"
	}
	if a == "" {
		a = "(end)"
	}
	return quoteInner(b) + "⟩" + quoteInner(a)
}

// quoteInner is s quoted as Go would, without the quotes: line breaks show.
func quoteInner(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// excerpt returns at most n runes of s.
func excerpt(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}
