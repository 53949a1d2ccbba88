package gsp

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// decodeJSON reads exactly one JSON object into v. Anything that is not JSON of
// the method's shape is INVALID_DECRYPTED_REQUEST (SPEC §2). Unknown members
// are ignored: Google may add fields in minor versions without notice.
//
// The body was signed by Google, and other systems may parse it again, so it
// is read strictly where two parsers could disagree about what it says
// (SPEC §1): a member name twice in one object (encoding/json keeps the last,
// others the first) and a known member spelt with other letter case
// (encoding/json matches "ACCOUNTPHONENUMBER" to accountPhoneNumber) are both
// refused. The decoder of github.com/go-json-experiment/json refuses
// duplicates everywhere, also inside unknown members, and matches names
// exactly; caseMismatch then finds the members it ignored for their case.
func decodeJSON(body []byte, v any) *Error {
	if err := jsonv2.Unmarshal(body, v); err != nil {
		return shapeError(err)
	}
	if err := caseMismatch(jsontext.Value(body), reflect.TypeOf(v), ""); err != nil {
		return err
	}
	return nil
}

func shapeError(err error) *Error {
	var syntaxErr *jsontext.SyntacticError
	var semanticErr *jsonv2.SemanticError
	switch {
	case errors.As(err, &syntaxErr) && errors.Is(syntaxErr.Err, jsontext.ErrDuplicateName):
		return Errorf(InvalidDecryptedRequest, "member %s appears twice in one object; each member may appear once",
			pointerName(syntaxErr.JSONPointer))
	case errors.As(err, &syntaxErr):
		return Errorf(InvalidDecryptedRequest, "the body is not valid JSON at byte %d: %v", syntaxErr.ByteOffset, syntaxErr.Err)
	case errors.As(err, &semanticErr):
		where := pointerName(semanticErr.JSONPointer)
		switch {
		case semanticErr.JSONPointer == "" && semanticErr.JSONKind != '{':
			return Errorf(InvalidDecryptedRequest, "the body must be a JSON object, not %s", kindName(semanticErr.JSONKind))
		case semanticErr.Err != nil && semanticErr.GoType != nil && implementsUnmarshaler(semanticErr.GoType):
			// Our own UnmarshalJSON methods (timestamps, digit strings)
			// explain themselves without echoing the value.
			return Errorf(InvalidDecryptedRequest, "field %s: %v", where, unwrapMethodError(semanticErr.Err))
		}
		return Errorf(InvalidDecryptedRequest, "field %s must be %s, not %s", where, goKindName(semanticErr.GoType), kindName(semanticErr.JSONKind))
	default:
		return Errorf(InvalidDecryptedRequest, "the body is not of the method's shape: %v", err)
	}
}

// pointerName writes a JSON pointer (/requestHeader/requestId) the way the
// error descriptions name fields (requestHeader.requestId).
func pointerName(p jsontext.Pointer) string {
	if p == "" {
		return "(the body)"
	}
	return echoable(strings.ReplaceAll(strings.TrimPrefix(string(p), "/"), "/", "."))
}

// longDigits is a run of digits as long as a card number.
var longDigits = regexp.MustCompile(`[0-9]{12,}`)

// echoable makes a member name taken from the body fit to quote in an error
// description: bounded, and with any card-number-length run of digits
// hidden, since a name is whatever the caller wrote.
func echoable(name string) string {
	const max = 80
	if len(name) > max {
		name = strings.ToValidUTF8(name[:max], "") + "…"
	}
	return longDigits.ReplaceAllString(name, "<digits>")
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "a value of another kind"
}

func goKindName(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "of another type"
	}
	if implementsUnmarshaler(t) {
		return "a string of digits"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "a boolean"
	}
	return "a number"
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func implementsUnmarshaler(t reflect.Type) bool {
	return t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)
}

// unwrapMethodError strips the decoder's wrapping of an UnmarshalJSON error.
func unwrapMethodError(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// caseMismatch walks the JSON value beside the Go type it was decoded into
// and reports the first member that names a field of that type only when
// letter case is ignored. Members of types that decode themselves
// (json.Unmarshaler, json.RawMessage) are not entered.
func caseMismatch(v jsontext.Value, t reflect.Type, at string) *Error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if implementsUnmarshaler(t) || t.Kind() != reflect.Struct && t.Kind() != reflect.Slice {
		return nil
	}
	dec := jsontext.NewDecoder(bytes.NewReader(v))
	if t.Kind() == reflect.Slice {
		if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
			return nil // the decoder already accepted it: null
		}
		for i := 0; dec.PeekKind() != ']'; i++ {
			elem, err := dec.ReadValue()
			if err != nil {
				return nil
			}
			if e := caseMismatch(elem, t.Elem(), fmt.Sprintf("%s[%d]", at, i)); e != nil {
				return e
			}
		}
		return nil
	}
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil // null for an optional object
	}
	fields := jsonFields(t)
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil
		}
		member := name.String() // before the next read voids the token
		value, err := dec.ReadValue()
		if err != nil {
			return nil
		}
		path := echoable(member)
		if at != "" {
			path = at + "." + path
		}
		if f, ok := fields.exact[member]; ok {
			if e := caseMismatch(value, f, path); e != nil {
				return e
			}
			continue
		}
		if want, ok := fields.foldedMatch(member); ok {
			return Errorf(InvalidDecryptedRequest, "member %s is spelt %q; Google's name is %q, and member names are case-sensitive",
				path, echoable(member), want)
		}
	}
	return nil
}

// structFields are a struct type's JSON member names.
type structFields struct {
	exact map[string]reflect.Type // name → field type
	names []string
}

// foldedMatch finds the field that name matches under Unicode simple case
// folding, as encoding/json matches names: "ſ" (U+017F) folds to "s" and
// "K" (U+212A) to "k", so "requeſtId" is requestId to encoding/json.
func (f structFields) foldedMatch(name string) (string, bool) {
	for _, n := range f.names {
		if strings.EqualFold(n, name) {
			return n, true
		}
	}
	return "", false
}

var fieldCache sync.Map // reflect.Type → structFields

func jsonFields(t reflect.Type) structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(structFields)
	}
	f := structFields{exact: map[string]reflect.Type{}}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || name == "-" || name == "" {
			continue
		}
		f.exact[name] = sf.Type
		f.names = append(f.names, name)
	}
	fieldCache.Store(t, f)
	return f
}

// fingerprint identifies a request's payload for idempotency: the method and the
// request as we understood it, with the fields that legitimately change between
// retries (requestTimestamp; the ignored userLocale) cleared by the caller.
// Re-encoding the typed value, rather than hashing the raw body, makes key order,
// whitespace and unknown fields irrelevant, except inside members we keep as
// raw JSON (nativeOtp.deviceInformation), which are compared as sent, compacted.
func fingerprint(method string, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Marshalling our own request types cannot fail.
		panic("gsp: fingerprint: " + err.Error())
	}
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write(b)
	return h.Sum(nil)
}
