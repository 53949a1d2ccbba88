package sms

import (
	"strings"
	"unicode/utf8"
)

// MaskPhone hides all but the last 4 characters of a phone number, for logs
// and errors: "+919876543210" becomes "*********3210". The length is kept, so
// masked numbers still line up. A string of 4 characters or fewer is masked
// entirely, since showing its last 4 would show all of it.
func MaskPhone(e164 string) string {
	const visible = 4
	n := utf8.RuneCountInString(e164)
	if n <= visible {
		return strings.Repeat("*", n)
	}
	// Keep the last 4 runes, not bytes, so that odd input stays valid UTF-8.
	tail := e164
	for range n - visible {
		_, size := utf8.DecodeRuneInString(tail)
		tail = tail[size:]
	}
	return strings.Repeat("*", n-visible) + tail
}
