package smpp

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/otpgate/otpgate/internal/sms"
)

func TestEncodeGSM7(t *testing.T) {
	tests := []struct {
		text string
		want string // hex, one septet per octet
	}{
		// Letters and digits sit where ASCII has them.
		{"Az09", "41 7a 30 39"},
		// Where GSM 03.38 differs from ASCII: @ £ $ ¥ at 0x00-0x03, _ at 0x11.
		{"@£$¥_", "00 01 02 03 11"},
		{"èéùìòÇ\nØø\rÅå", "04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"},
		{"ΔΦΓΛΩΠΨΣΘΞ", "10 12 13 14 15 16 17 18 19 1a"},
		{"ÆæßÉ ¤", "1c 1d 1e 1f 20 24"},
		{"¡ÄÖÑÜ§¿äöñüà", "40 5b 5c 5d 5e 5f 60 7b 7c 7d 7e 7f"},
		// The extension table: escape 0x1B, then the character's septet.
		{"\f^{}\\[~]|€", "1b0a 1b14 1b28 1b29 1b2f 1b3c 1b3d 1b3e 1b40 1b65"},
		{"Code: 123456 {x}", "43 6f 64 65 3a 20 31 32 33 34 35 36 20 1b28 78 1b29"},
	}
	for _, tt := range tests {
		got, err := EncodeGSM7(tt.text)
		if err != nil {
			t.Errorf("EncodeGSM7(%q): %v", tt.text, err)
			continue
		}
		if want := wire(t, tt.want); !bytes.Equal(got, want) {
			t.Errorf("EncodeGSM7(%q) = %x, want %x", tt.text, got, want)
		}
		if back := DecodeGSM7(got); back != tt.text {
			t.Errorf("DecodeGSM7(%x) = %q, want %q", got, back, tt.text)
		}
	}
	for _, text := range []string{"ç", "`", "\x1b", "आ", "\t"} {
		if b, err := EncodeGSM7(text); err == nil {
			t.Errorf("EncodeGSM7(%q) = %x, want an error", text, b)
		}
	}
}

func TestDecodeGSM7Receiver(t *testing.T) {
	tests := []struct{ wire, want string }{
		{"1b 41", "A"},  // an undefined extension: the basic character
		{"41 1b", "A "}, // a trailing escape: a space
		{"1b 1b 41", " A"},
		{"c1", "A"}, // the high bit is not part of a septet
	}
	for _, tt := range tests {
		if got := DecodeGSM7(wire(t, tt.wire)); got != tt.want {
			t.Errorf("DecodeGSM7(%s) = %q, want %q", tt.wire, got, tt.want)
		}
	}
}

// The table here and the composer's length rules (sms.Encoding) must agree
// on every character: a text the composer measured as GSM-7 must go out as
// GSM-7, in as many septets as it counted.
func TestGSM7AgreesWithComposer(t *testing.T) {
	// The whole Basic Multilingual Plane (the GSM tables end at U+20AC),
	// and a few characters beyond it.
	runes := []rune{0x10000, 0x1F510, 0x1F600, utf8.MaxRune}
	for r := rune(0); r <= 0xFFFF; r++ {
		runes = append(runes, r)
	}
	for _, r := range runes {
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		name, units := sms.Encoding(s)
		b, err := EncodeGSM7(s)
		switch {
		case name == sms.GSM7 && err != nil:
			t.Errorf("%U: the composer counts it as GSM-7, EncodeGSM7 refuses it: %v", r, err)
		case name != sms.GSM7 && err == nil:
			t.Errorf("%U: EncodeGSM7 takes it (%x), the composer counts it as UCS-2", r, b)
		case err == nil && len(b) != units:
			t.Errorf("%U: %d octets, the composer counts %d septets", r, len(b), units)
		}
	}
}

func TestEncodeText(t *testing.T) {
	tests := []struct {
		text   string
		coding byte
		want   string
	}{
		{"Your code is 123456", CodingDefault, "596f757220636f6465206973203132333435 36"},
		{"€5", CodingDefault, "1b65 35"},
		// One character outside GSM-7 makes the whole text UCS-2.
		{"ç1", CodingUCS2, "00e7 0031"},
		{"आपका OTP", CodingUCS2, "0906 092a 0915 093e 0020 004f 0054 0050"},
		// Outside the BMP: a surrogate pair, as the composer counts it.
		{"🔐", CodingUCS2, "d83d dd10"},
	}
	for _, tt := range tests {
		coding, got := EncodeText(tt.text)
		if coding != tt.coding || !bytes.Equal(got, wire(t, tt.want)) {
			t.Errorf("EncodeText(%q) = %d, %x; want %d, %s", tt.text, coding, got, tt.coding, tt.want)
		}
		if back := DecodeText(coding, got); back != tt.text {
			t.Errorf("DecodeText(%d, %x) = %q, want %q", coding, got, back, tt.text)
		}
	}
	if got := DecodeText(0x03, []byte{0x41, 0xe9}); got != "Aé" {
		t.Errorf("DecodeText Latin-1 = %q", got)
	}
	if got := DecodeUCS2([]byte{0x00, 0x41, 0x00}); got != "A" {
		t.Errorf("DecodeUCS2 with an odd octet = %q", got)
	}
}
