package gsp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Millis is a timestamp in milliseconds since the Unix epoch. Google sends it as a
// JSON string ("1502545413026") and, in some examples, as a JSON number; both are
// accepted. It is always written as a string, as Google's reference shows.
type Millis int64

// MillisOf converts a time to Millis.
func MillisOf(t time.Time) Millis { return Millis(t.UnixMilli()) }

// Time converts m to a time.
func (m Millis) Time() time.Time { return time.UnixMilli(int64(m)) }

// MarshalJSON writes m as a decimal string.
func (m Millis) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(m), 10) + `"`), nil
}

// UnmarshalJSON reads a decimal string or number.
func (m *Millis) UnmarshalJSON(b []byte) error {
	s := b
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		s = []byte(str)
	} else if bytes.ContainsAny(b, ".eE-") || bytes.Equal(b, []byte("null")) {
		return fmt.Errorf("timestamp must be whole epoch milliseconds, got %.40s", b)
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("timestamp must be whole epoch milliseconds, got %.40q", s)
	}
	*m = Millis(n)
	return nil
}
