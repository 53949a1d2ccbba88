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

var fieldList = strings.Join([]string{fieldAccountID, fieldPhone, fieldStatus, fieldAssociationIDs, fieldCards, fieldTokens}, ", ")

var cardFieldList = strings.Join([]string{fieldNumber, fieldExpiryMonth, fieldExpiryYear}, ", ")

// ParseJSONL reads accounts as JSON lines, one object per line:
//
//	{"accountId":"A1","phone":"+919876543210","status":"active","associationIds":["as-1"],
//	 "cards":[{"number":"4111111111111111","expiryMonth":"01","expiryYear":"30"}],
//	 "tokens":[{"number":"4895370012003478"}]}
//
// (on one line). accountId and phone are required. status defaults to
// "active" when it is absent, null or "". associationIds, cards and tokens
// may be absent, null or [].
//
// A card's number is a string of 12 to 19 digits. Its expiryMonth ("1" to
// "12", or "01" to "12") and expiryYear ("YY" for 20YY, or "YYYY") may be
// strings or JSON numbers; they may be absent or null together, for an
// unknown expiry, but not one without the other. A token (a network token
// of a card: its number is Google's paymentTokenAccountNumber) is an object
// of the same three keys, under the same rules.
//
// The keys, of the account and of its cards and tokens, must be spelt
// exactly as above (encoding/json alone would match "PHONE" too), may not
// repeat (it would silently keep the last one), and no other key is allowed,
// so that a typo fails the import instead of dropping a field. Blank lines,
// a UTF-8 byte order mark at the start and CRLF line endings are accepted.
//
// hashCard is the keyed hash under which a card or token is stored (see the
// package documentation); it is given each number once validated, and may be
// nil when no card secret is configured, making a file with cards or tokens
// an error.
//
// Either every account of the file is returned, or none and an error joining
// a [*RowError] per problem found; after 20 of them, a last error says that
// reading stopped there.
func ParseJSONL(r io.Reader, hashCard func(number string) []byte) ([]otp.Account, error) {
	c := newCollector(hashCard)
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
	seen := make(map[string]bool, 6)
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
		case fieldCards, fieldTokens:
		default:
			return r, fmt.Errorf("unknown field %s; want %s", quoteMasked(key), fieldList)
		}
		if seen[key] {
			return r, fmt.Errorf("field %s given twice", key)
		}
		seen[key] = true
		switch key {
		case fieldCards:
			r.cards, err = decodeCards(dec, cardsList)
		case fieldTokens:
			r.tokens, err = decodeCards(dec, tokensList)
		default:
			if err = dec.Decode(dst); err != nil {
				err = fmt.Errorf("%s: %w", key, jsonError(err))
			}
		}
		if err != nil {
			return r, err
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

// decodeCards decodes the value of "cards" or "tokens" (list says which):
// null, or an array of card objects, walking their keys as decodeLine does.
// Its errors never quote a value, which could be a card number.
func decodeCards(dec *json.Decoder, list cardList) ([]rawCard, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", list.field, jsonError(err))
	}
	switch tok {
	case nil:
		return nil, nil
	case json.Delim('['):
	default:
		return nil, fmt.Errorf("%s: got %s, want an array of objects", list.field, jsonKind(tok))
	}
	var cards []rawCard
	for dec.More() {
		c, err := decodeCard(dec)
		if err != nil {
			return nil, fmt.Errorf("%s %d: %w", list.noun, len(cards)+1, err)
		}
		cards = append(cards, c)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, fmt.Errorf("%s: %w", list.field, jsonError(err))
	}
	return cards, nil
}

// decodeCard decodes one card (or token) object.
func decodeCard(dec *json.Decoder) (rawCard, error) {
	var c rawCard
	tok, err := dec.Token()
	if err != nil {
		return c, jsonError(err)
	}
	if tok != json.Delim('{') {
		return c, fmt.Errorf("got %s, want an object", jsonKind(tok))
	}
	seen := make(map[string]bool, 3)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return c, jsonError(err)
		}
		key, _ := tok.(string)
		switch key {
		case fieldNumber, fieldExpiryMonth, fieldExpiryYear:
		default:
			return c, fmt.Errorf("unknown field %s; want %s", quoteMasked(key), cardFieldList)
		}
		if seen[key] {
			return c, fmt.Errorf("field %s given twice", key)
		}
		seen[key] = true
		switch key {
		case fieldNumber:
			var num *string
			if err := dec.Decode(&num); err != nil {
				return c, fmt.Errorf("%s: %w", key, jsonError(err))
			}
			if num != nil {
				c.number, c.hasNumber = *num, true
			}
		case fieldExpiryMonth:
			c.month, c.hasMonth, err = decodeDigits(dec)
		case fieldExpiryYear:
			c.year, c.hasYear, err = decodeDigits(dec)
		}
		if err != nil {
			return c, fmt.Errorf("%s: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return c, jsonError(err)
	}
	return c, nil
}

// decodeDigits decodes an expiry field, a string or a number, as text. A
// null is as if the key were absent.
func decodeDigits(dec *json.Decoder) (s string, ok bool, err error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return "", false, jsonError(err)
	}
	raw = bytes.TrimSpace(raw)
	switch b := raw[0]; {
	case b == 'n':
		return "", false, nil
	case b == '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, jsonError(err)
		}
		return s, true, nil
	case b == '-' || '0' <= b && b <= '9':
		return string(raw), true, nil
	}
	var v any
	_ = json.Unmarshal(raw, &v)
	return "", false, fmt.Errorf("got %s, want a string or a number", jsonKind(v))
}

// jsonKind names the JSON type of a token or decoded value, for an error.
func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "JSON null"
	case json.Delim:
		if v == '[' {
			return "a JSON array"
		}
		return "a JSON object"
	case map[string]any:
		return "a JSON object"
	case []any:
		return "a JSON array"
	case string:
		return "a JSON string"
	case float64, json.Number:
		return "a JSON number"
	case bool:
		return "a JSON bool"
	}
	return "a JSON value"
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
