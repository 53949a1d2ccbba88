package sms

import (
	"unicode/utf16"
)

// Names of the two encodings an SMS can use, as returned by [Encoding].
const (
	GSM7 = "GSM-7" // GSM 03.38 default alphabet, 7-bit septets
	UCS2 = "UCS-2" // UTF-16 code units, 16 bits each
)

// Capacity of one SMS (a single segment, no concatenation header). Both are
// the same 140 bytes of user data: 160 septets × 7 bits, or 70 units × 16 bits.
const (
	MaxGSM7Septets = 160
	MaxUCS2Units   = 70
)

// Encoding reports how text would be encoded in an SMS and how many units it
// takes: GSM7 and its length in septets when every character is in the GSM
// 03.38 default alphabet or its extension table (an extension character
// costs two septets, the escape and the character), otherwise UCS2 and its
// length in UTF-16 code units (a character outside the Basic Multilingual
// Plane costs two).
//
// Phones and gateways fall back to UCS-2 for the whole message as soon as one
// character is outside GSM-7, which is why a single "ç" (not in GSM-7, unlike
// "Ç") more than halves what fits.
func Encoding(text string) (name string, units int) {
	septets := 0
	for _, r := range text {
		n := gsmSeptets(r)
		if n == 0 {
			return UCS2, ucs2Units(text)
		}
		septets += n
	}
	return GSM7, septets
}

// Fits reports whether text fits one SMS of 140 bytes.
func Fits(text string) bool {
	name, units := Encoding(text)
	return units <= limit(name)
}

// limit is the capacity of one SMS in the units of the named encoding.
func limit(name string) int {
	if name == GSM7 {
		return MaxGSM7Septets
	}
	return MaxUCS2Units
}

// ucs2Units counts UTF-16 code units. Invalid UTF-8 decodes as U+FFFD, one
// unit, which is also what a gateway would end up sending for it.
func ucs2Units(text string) int {
	n := 0
	for _, r := range text {
		n += utf16.RuneLen(r)
	}
	return n
}

// firstNonGSM returns the first character of text outside GSM-7, for error
// messages that explain why a text is measured against the UCS-2 limit.
func firstNonGSM(text string) (rune, bool) {
	for _, r := range text {
		if gsmSeptets(r) == 0 {
			return r, true
		}
	}
	return 0, false
}

// gsmSeptets returns how many septets r takes in the GSM 03.38 default
// alphabet (3GPP TS 23.038 §6.2.1): 1 for the basic table, 2 for the
// extension table (reached through the escape 0x1B), 0 when r is in neither.
// The mapping to Unicode is the one of unicode.org's GSM0338.TXT; the escape
// itself (0x1B) is not a character a text can contain. A switch, not a map,
// so that the table is a constant of the code rather than package state.
func gsmSeptets(r rune) int {
	switch {
	case 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z', '0' <= r && r <= '9':
		return 1
	}
	switch r {
	case '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', // 0x00-0x0F
		'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 'Æ', 'æ', 'ß', 'É', // 0x10-0x1F but 0x1B (escape)
		' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', // 0x20-0x2F
		':', ';', '<', '=', '>', '?', // 0x3A-0x3F
		'¡', 'Ä', 'Ö', 'Ñ', 'Ü', '§', // 0x40, 0x5B-0x5F
		'¿', 'ä', 'ö', 'ñ', 'ü', 'à': // 0x60, 0x7B-0x7F
		return 1
	case '\f', '^', '{', '}', '\\', '[', '~', ']', '|', '€': // extension table
		return 2
	}
	return 0
}
