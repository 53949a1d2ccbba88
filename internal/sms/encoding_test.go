package sms

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// gsmBasicTable is the GSM 03.38 default alphabet in code order, 0x00 to
// 0x7F, as in unicode.org's GSM0338.TXT; 0x1B is the escape to the extension
// table. It is written in a different form from gsmSeptets on purpose, so
// that a slip in one is caught by the other.
var gsmBasicTable = []string{
	"@£$¥èéùìòÇ\nØø\rÅå",
	"Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ",
	" !\"#¤%&'()*+,-./",
	"0123456789:;<=>?",
	"¡ABCDEFGHIJKLMNO",
	"PQRSTUVWXYZÄÖÑÜ§",
	"¿abcdefghijklmno",
	"pqrstuvwxyzäöñüà",
}

// gsmExtensionTable maps the code after the escape to its character.
var gsmExtensionTable = map[byte]rune{
	0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\',
	0x3C: '[', 0x3D: '~', 0x3E: ']', 0x40: '|', 0x65: '€',
}

func TestGSMSeptetsMatchesTable(t *testing.T) {
	want := map[rune]int{}
	code := 0
	for _, row := range gsmBasicTable {
		if n := utf8.RuneCountInString(row); n != 16 {
			t.Fatalf("table row %q has %d characters, want 16", row, n)
		}
		for _, r := range row {
			if code != 0x1B {
				want[r] = 1
			}
			code++
		}
	}
	for _, r := range gsmExtensionTable {
		want[r] = 2
	}
	if len(want) != 127+10 {
		t.Fatalf("reference table has %d distinct characters, want 137", len(want))
	}
	// Every rune, so that a character accepted by mistake is caught too.
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if got := gsmSeptets(r); got != want[r] {
			t.Errorf("gsmSeptets(%q %U) = %d, want %d", r, r, got, want[r])
		}
	}
}

func TestEncoding(t *testing.T) {
	tests := []struct {
		text      string
		wantName  string
		wantUnits int
	}{
		{"", GSM7, 0},
		{"Hello, world!", GSM7, 13},
		{"AB12345678C\nYour code is 123456.", GSM7, 32},
		{"Ç@£$¥èéùìòØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡¿§ÄÖÑÜäöñüà", GSM7, 42},
		{"€", GSM7, 2},
		{"{}[]~\\|^\f€", GSM7, 20},
		{"a€b", GSM7, 4},
		{"\r\n", GSM7, 2},
		{"ç", UCS2, 1},       // only the capital is in GSM-7
		{"`", UCS2, 1},       // grave accent: not in GSM-7
		{"\t", UCS2, 1},      // tab: not in GSM-7
		{"\x1b", UCS2, 1},    // the escape is not a character of its own
		{"hello ç", UCS2, 7}, // one character switches the whole text
		{"₹100", UCS2, 4},
		{"नमस्ते", UCS2, 6},
		{"€ç", UCS2, 2}, // in UCS-2 the euro is one unit, not two
		{"😀", UCS2, 2},  // outside the BMP: a surrogate pair
		{"a😀b", UCS2, 4},
		{"\xff", UCS2, 1}, // invalid UTF-8 counts as U+FFFD
	}
	for _, tt := range tests {
		name, units := Encoding(tt.text)
		if name != tt.wantName || units != tt.wantUnits {
			t.Errorf("Encoding(%q) = %s, %d; want %s, %d", tt.text, name, units, tt.wantName, tt.wantUnits)
		}
	}
}

func TestFits(t *testing.T) {
	r := strings.Repeat
	tests := []struct {
		name string
		text string
		want bool
	}{
		{"empty", "", true},
		{"160 septets", r("a", 160), true},
		{"161 septets", r("a", 161), false},
		{"80 extension characters", r("€", 80), true},
		{"80 extension characters and one more", r("€", 80) + "a", false},
		{"extension characters count twice", r("a", 159) + "^", false},
		{"70 UCS-2 units", r("ç", 70), true},
		{"71 UCS-2 units", r("ç", 71), false},
		{"one non-GSM character in 70", "ç" + r("a", 69), true},
		{"one non-GSM character in 71", "ç" + r("a", 70), false},
		{"35 surrogate pairs", r("😀", 35), true},
		{"35 surrogate pairs and one more", r("😀", 35) + "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fits(tt.text); got != tt.want {
				name, units := Encoding(tt.text)
				t.Errorf("Fits() = %v, want %v (%s, %d units)", got, tt.want, name, units)
			}
		})
	}
}
