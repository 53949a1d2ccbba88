package jose

import (
	"bytes"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/envelope"
)

// TestOpenDecompressedBound: a "zip":"DEF" JWE opens only while its
// plaintext, decompressed, stays within Options.MaxPlaintext (64 KiB, the
// server's body limit, by default). go-jose alone lets up to 250 kB through.
func TestOpenDecompressedBound(t *testing.T) {
	p := newParties(t)
	ours, google := p.ours[0], p.google[0]
	zipped := func(payload []byte) []byte {
		jws := sign(t, payload, "RS256", google.PrivateKey, google.ID, nil)
		body := encrypt(t, []byte(jws), "RSA1_5", "A128CBC-HS256", ours.PublicKey, ours.ID, true)
		if len(body) > 64<<10 {
			t.Fatalf("a %d-byte body, over the server's limit", len(body))
		}
		return body
	}
	small := bytes.Repeat([]byte("0"), 40_000) // a 53 kB JWS
	large := make([]byte, 150_000)             // a 200 kB JWS
	for _, tc := range []struct {
		name    string
		opts    Options
		payload []byte
		opens   bool
	}{
		{"40 kB, default bound", Options{}, small, true},
		{"150 kB, default bound", Options{}, large, false},
		{"40 kB, bound 30 kB", Options{MaxPlaintext: 30_000}, small, false},
		{"150 kB, bound 300 kB", Options{MaxPlaintext: 300_000}, large, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.server(t, tc.opts).Open(zipped(tc.payload))
			if tc.opens {
				if err != nil || !bytes.Equal(got, tc.payload) {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			wantErr(t, err, envelope.ErrUndecryptable)
			if got != nil || !strings.Contains(err.Error(), "decompressed") {
				t.Errorf("Open = %d bytes, %v", len(got), err)
			}
			t.Log(err)
		})
	}
}
