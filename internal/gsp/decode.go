package gsp

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
)

// decodeJSON reads exactly one JSON object into v. Anything that is not JSON of
// the method's shape is INVALID_DECRYPTED_REQUEST (SPEC §2). Unknown fields are
// ignored: Google may add fields in minor versions without notice.
func decodeJSON(body []byte, v any) *Error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return shapeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(InvalidDecryptedRequest, "the body holds more than one JSON value")
	}
	return nil
}

func shapeError(err error) *Error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return Errorf(InvalidDecryptedRequest, "the body must be a JSON object, not a %s", typeErr.Value)
		}
		return Errorf(InvalidDecryptedRequest, "field %s must be of type %s, not a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return Errorf(InvalidDecryptedRequest, "the body is not valid JSON at byte %d: %v", syntaxErr.Offset, err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(InvalidDecryptedRequest, "the body is empty or truncated JSON")
	default:
		// Errors of our own UnmarshalJSON methods (timestamps) land here.
		return Errorf(InvalidDecryptedRequest, "the body is not of the method's shape: %v", err)
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "struct", "map", "ptr":
		return "object"
	case "slice", "array":
		return "array"
	case "bool":
		return "boolean"
	default:
		return "number"
	}
}

// fingerprint identifies a request's payload for idempotency: the method and the
// request as we understood it, with the fields that legitimately change between
// retries (requestTimestamp; the ignored userLocale) cleared by the caller.
// Re-encoding the typed value, rather than hashing the raw body, makes key order,
// whitespace and unknown fields irrelevant.
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
