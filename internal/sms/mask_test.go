package sms

import "testing"

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+919876543210", "*********3210"},
		{"+33612345678", "********5678"},
		{"+15551234567", "********4567"},
		{"12345", "*2345"},
		{"1234", "****"},
		{"123", "***"},
		{"", ""},
		{"+91९८७६५४३२१०", "*********३२१०"}, // runes, not bytes
	}
	for _, tt := range tests {
		if got := MaskPhone(tt.in); got != tt.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
