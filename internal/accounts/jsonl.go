package accounts

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/otpgate/otpgate/internal/otp"
)

// maxLineLen bounds one line of a JSON lines file; an account with a
// thousand association ids still fits.
const maxLineLen = 1 << 20

// bom is the UTF-8 byte order mark some editors put at the start of a file.
var bom = []byte("\ufeff")

var fieldList = strings.Join([]string{fieldAccountID, fieldPhone, fieldStatus, fieldAssociationIDs}, ", ")

// ParseJSONL reads accounts as JSON lines, one object per line:
//
//	{"accountId":"A1","phone":"+919876543210","status":"active","associationIds":["as-1"]}
//
// accountId and phone are required. status defaults to "active" when it is
// absent, null or "". associationIds may be absent, null or [].
//
// The keys must be spelt exactly as above (encoding/json alone would match
// "PHONE" too), may not repeat (it would silently keep the last one), and no
// other key is allowed, so that a typo fails the import instead of dropping a
// field. Blank lines, a UTF-8 byte order mark at the start and CRLF line
// endings are accepted.
//
// Either every account of the file is returned, or none and an error joining
// a [*RowError] per problem found; after 20 of them, a last error says that
// reading stopped there.
func ParseJSONL(r io.Reader) ([]otp.Account, error) {
	c := newCollector()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxLineLen)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes() // without its "\n" or "\r\n"
		if line == 1 {
			b = bytes.TrimPrefix(b, bom)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		rw, err := decodeLine(b)
		if err != nil {
			if !c.fail(line, err) {
				break
			}
			continue
		}
		rw.line = line
		if !c.add(rw) {
			break
		}
	}
	if err := sc.Err(); err != nil {
		if !errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("accounts: read: %w", err)
		}
		// The scanner cannot skip the rest of a long line, so this is the
		// last error of the file.
		c.fail(line+1, fmt.Errorf("longer than %d KiB", maxLineLen>>10))
	}
	return c.result()
}

// decodeLine decodes one JSON object. It walks the keys itself rather than
// using Decoder.DisallowUnknownFields, which still matches keys
// case-insensitively and lets a repeated key overwrite the first.
func decodeLine(b []byte) (row, error) {
	var r row
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return r, jsonError(err)
	}
	if tok != json.Delim('{') {
		return r, errors.New("not a JSON object")
	}
	seen := make(map[string]bool, 4)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return r, jsonError(err)
		}
		key, _ := tok.(string) // the decoder only yields strings as keys
		var dst any
		switch key {
		case fieldAccountID:
			dst = &r.id
		case fieldPhone:
			dst = &r.phone
		case fieldStatus:
			dst = &r.status
		case fieldAssociationIDs:
			dst = &r.associationIDs
		default:
			return r, fmt.Errorf("unknown field %s; want %s", quote(key), fieldList)
		}
		if seen[key] {
			return r, fmt.Errorf("field %s given twice", key)
		}
		seen[key] = true
		if err := dec.Decode(dst); err != nil {
			return r, fmt.Errorf("%s: %w", key, jsonError(err))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return r, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return r, errors.New("invalid JSON: more after the object")
	}
	return r, nil
}

// jsonError rewrites an encoding/json error for a person editing the file:
// without Go type names, and without the offending value, which could be a
// phone number.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		got, _, _ := strings.Cut(te.Value, " ") // "number 123" → "number"
		want := "a string"
		if te.Type != nil && te.Type.Kind() == reflect.Slice {
			want = "an array of strings"
		}
		return fmt.Errorf("got a JSON %s, want %s", got, want)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: unexpected end of line")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Its message names one character at most.
		return fmt.Errorf("invalid JSON: %v", se)
	}
	return fmt.Errorf("invalid JSON: %v", err)
}
