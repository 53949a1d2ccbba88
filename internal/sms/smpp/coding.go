package smpp

import (
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/otpgate/otpgate/internal/sms"
)

// gsmBasic is the GSM 03.38 default alphabet (3GPP TS 23.038 §6.2.1), the
// character of each septet 0x00-0x7F in order, as unicode.org's GSM0338.TXT
// maps it. 0x1B is the escape to the extension table, kept here as ESC so
// that indexes line up; a text cannot use it.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ" +
	" !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§" +
	"¿abcdefghijklmnopqrstuvwxyzäöñüà"

const gsmEscape = 0x1B

// gsmExtension maps a character of the extension table to the septet that
// follows the escape.
func gsmExtension(r rune) (byte, bool) {
	switch r {
	case '\f':
		return 0x0A, true
	case '^':
		return 0x14, true
	case '{':
		return 0x28, true
	case '}':
		return 0x29, true
	case '\\':
		return 0x2F, true
	case '[':
		return 0x3C, true
	case '~':
		return 0x3D, true
	case ']':
		return 0x3E, true
	case '|':
		return 0x40, true
	case '€':
		return 0x65, true
	}
	return 0, false
}

func gsmExtensionChar(septet byte) (rune, bool) {
	for _, r := range "\f^{}\\[~]|€" {
		if s, _ := gsmExtension(r); s == septet {
			return r, true
		}
	}
	return 0, false
}

// gsmSeptet returns the septet of r in the basic table.
func gsmSeptet(r rune) (byte, bool) {
	if r == gsmEscape {
		return 0, false
	}
	i := 0
	for _, c := range gsmBasic {
		if c == r {
			return byte(i), true
		}
		i++
	}
	return 0, false
}

// EncodeGSM7 encodes text in the GSM 03.38 default alphabet, one septet per
// octet (unpacked), as SMPP carries data_coding 0: an extension character
// becomes the escape 0x1B and its septet. It fails on the first character in
// neither table.
func EncodeGSM7(text string) ([]byte, error) {
	b := make([]byte, 0, len(text))
	for _, r := range text {
		if s, ok := gsmSeptet(r); ok {
			b = append(b, s)
			continue
		}
		if s, ok := gsmExtension(r); ok {
			b = append(b, gsmEscape, s)
			continue
		}
		return nil, fmt.Errorf("smpp: %U is not in the GSM 03.38 default alphabet", r)
	}
	return b, nil
}

// DecodeGSM7 decodes unpacked GSM 03.38 septets. An escape followed by a
// septet the extension table does not define stands for that septet's
// basic character, as TS 23.038 asks of a receiver; a trailing escape reads
// as a space. The high bit of each octet is ignored.
func DecodeGSM7(b []byte) string {
	basic := []rune(gsmBasic)
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		s := b[i] & 0x7F
		if s != gsmEscape {
			sb.WriteRune(basic[s])
			continue
		}
		if i+1 == len(b) {
			sb.WriteByte(' ')
			break
		}
		i++
		next := b[i] & 0x7F
		if r, ok := gsmExtensionChar(next); ok {
			sb.WriteRune(r)
		} else if next == gsmEscape {
			sb.WriteByte(' ')
		} else {
			sb.WriteRune(basic[next])
		}
	}
	return sb.String()
}

// EncodeUCS2 encodes text as big-endian UTF-16 code units, what SMSCs and
// handsets decode as data_coding 8: a character outside the Basic
// Multilingual Plane becomes a surrogate pair.
func EncodeUCS2(text string) []byte {
	units := utf16.Encode([]rune(text))
	b := make([]byte, 0, 2*len(units))
	for _, u := range units {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

// DecodeUCS2 decodes big-endian UTF-16; an odd final octet is dropped.
func DecodeUCS2(b []byte) string {
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(units))
}

// EncodeText chooses the data_coding of text the way the composer measures
// it (sms.Encoding): GSM-7 when every character is in the default alphabet
// or its extension table, UCS-2 otherwise.
func EncodeText(text string) (dataCoding byte, octets []byte) {
	if name, _ := sms.Encoding(text); name == sms.GSM7 {
		if b, err := EncodeGSM7(text); err == nil {
			return CodingDefault, b
		}
		// Unreachable while the two tables agree (a test checks that they
		// do); UCS-2 can carry anything.
	}
	return CodingUCS2, EncodeUCS2(text)
}

// DecodeText decodes a short_message by its data_coding: GSM 03.38 for 0,
// UCS-2 for 8, and octets as Latin-1 for anything else (IA5/ASCII 1 and
// Latin-1 3 among them).
func DecodeText(dataCoding byte, b []byte) string {
	switch dataCoding {
	case CodingDefault:
		return DecodeGSM7(b)
	case CodingUCS2:
		return DecodeUCS2(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}
