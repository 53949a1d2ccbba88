package simulator

import (
	"bytes"
	"encoding/json"
	"testing"
)

// members lists the member names of the JSON object at path in text, in
// order and with repeats, as a strict parser sees them.
func members(t *testing.T, text []byte, path ...string) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(text))
	var walk func(depth int) []string
	walk = func(depth int) []string {
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("not an object at %v: %v %v", path[:depth], tok, err)
		}
		var names, found []string
		for dec.More() {
			tok, _ := dec.Token()
			name := tok.(string)
			names = append(names, name)
			if depth < len(path) && name == path[depth] {
				found = walk(depth + 1)
				continue
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
		dec.Token() // '}'
		if depth == len(path) {
			return names
		}
		return found
	}
	return walk(0)
}

// splice adds a member next to one of the same name, or in other letters,
// inside a nested object, and leaves the body it was given as it was: this
// is what the strict-JSON scenarios rely on to send what a Go map cannot
// hold.
func TestSplice(t *testing.T) {
	body := map[string]any{"requestHeader": map[string]any{"requestId": "a"}, "accountPhoneNumber": "+1"}
	text, err := splice(body, []string{"requestHeader"}, "requestId", "b")
	if err != nil {
		t.Fatal(err)
	}
	if got := members(t, text, "requestHeader"); len(got) != 2 || got[0] != "requestId" || got[1] != "requestId" {
		t.Errorf("requestHeader members %v in %s, want requestId twice", got, text)
	}
	if len(hdr(body)) != 1 {
		t.Errorf("splice left its marker in the body: %v", body)
	}
	text, err = splice(body, nil, "ACCOUNTPHONENUMBER", "+2")
	if err != nil {
		t.Fatal(err)
	}
	if got := members(t, text); len(got) != 3 || got[0] != "ACCOUNTPHONENUMBER" {
		t.Errorf("top-level members %v in %s", got, text)
	}
	if _, err := splice(body, []string{"nothing"}, "x", 1); err == nil {
		t.Error("splice into an object that is not there")
	}
}
