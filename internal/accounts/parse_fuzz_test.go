package accounts

import (
	"bytes"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/otp"
)

// FuzzParseJSONL and FuzzParseCSV read arbitrary files, seeded with the
// package documentation's examples and a few broken ones. Beyond "no panic"
// they check that a parse returns every account or none and an error; that
// only numbers of 12 to 19 digits reach hashCard and the accounts keep no
// more of them than their last four digits; and that no error holds a run of
// 12 or more digits from the file (a card number, or a phone number), but
// for the accountIds and associationIds that errors quote on purpose: they
// are identifiers, not secrets, and an operator needs them to find the row.
//
// Run one for longer with, for example,
//
//	go test -run '^$' -fuzz '^FuzzParseCSV$' -fuzztime 10m ./internal/accounts

func FuzzParseJSONL(f *testing.F) {
	for _, s := range []string{
		`{"accountId":"A1","phone":"+919876543210","status":"active","associationIds":["as-1"],` +
			`"cards":[{"number":"4111111111111111","expiryMonth":"01","expiryYear":"30"}],` +
			`"tokens":[{"number":"4895370012003478"}]}` + "\n",
		"\ufeff" + `{"accountId":"A1","phone":"+919876543210"}` + "\r\n\r\n" + `{"accountId":"A2","phone":"+14035551111","status":"closed_fraud"}`,
		`{"accountId":"A1","phone":"+919876543210","cards":[{"number":"5555555555554444","expiryMonth":12,"expiryYear":2031},{"number":"378282246310005"}]}`,
		`{"accountId":"A1","phone":"+919876543210","cards":[{"number":"4111 1111 1111 1111","expiryMonth":"13"}]}`,
		`{"accountId":"A1","phone":"+919876543210","cards":[{"number":"4111111111111111"}]}` + "\n" +
			`{"accountId":"A2","phone":"+919876543211","cards":[{"number":"4111111111111111"}]}`,
		`{"accountId":"A1","PHONE":"+919876543210","accountId":"A1","4111111111111111":1}`,
		`{"accountId":"A1","phone":"4111111111111111","status":"4111111111111111"}`,
		`{"accountId":"A1","phone":"+919876543210"} {}`, `[]`, `{`, `null`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { checkParse(t, ParseJSONL, in) })
}

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"accountId,phone,status,associationIds,cards,tokens\n" +
			"A1,+919876543210,active,as-1;as-2,4111111111111111/01/30;378282246310005,4895370012003478\n",
		"\ufeffaccountId,phone,cards\r\nA1,+919876543210,4111111111111111/01/30;5555555555554444/12/2031;378282246310005\r\n",
		"accountId,phone,cards,tokens\nA1,+919876543210,4111111111111111/01/30,4895370012003478;4895370012009999/06/29\n",
		"phone,accountId\n\"+919876543210\",\"A\n1\"\n",
		"accountId,phone,cards\nA1,+919876543210,4111111111111111/13/1999;41111111/01;4111-1111-1111-1111\n",
		"accountId,phone,cards\nA1,+919876543210,4111111111111111\nA2,+919876543211,4111111111111111\n",
		"accountId,phone,4111111111111111\nA1,+919876543210,x\n",
		"accountId,phone,status\nA1,4111111111111111,4111111111111111\n",
		"accountId,phone\nA1\n", "accountId,phone\n\"A1,+91", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { checkParse(t, ParseCSV, in) })
}

// quotedID is an accountId or associationId as errors quote it (quote). A
// status is masked like other misplaced values (these targets found a card
// number in the status column repeated whole); the seeds with a number for a
// status test that.
var quotedID = regexp.MustCompile(`(?:accountId|associationId) "(?:[^"\\]|\\.)*"…?`)

var longDigits12 = regexp.MustCompile(`[0-9]{12,}`)

func checkParse(t *testing.T, parse func(io.Reader, func(string) []byte) ([]otp.Account, error), in string) {
	t.Helper()
	var hashed []string
	spy := func(number string) []byte {
		hashed = append(hashed, number)
		return testHash(number)
	}
	accounts, err := parse(strings.NewReader(in), spy)
	if err != nil && accounts != nil {
		t.Fatalf("returned %d accounts along with error %v", len(accounts), err)
	}
	for _, n := range hashed {
		if !allDigits(n) || len(n) < minCardLen || len(n) > maxCardLen {
			t.Errorf("hashCard called with %d bytes that are no card number", len(n))
		}
	}
	for _, a := range accounts {
		for _, c := range append(append([]otp.Card(nil), a.Cards...), a.Tokens...) {
			if len(c.Last4) != 4 || !allDigits(c.Last4) || len(c.Hash) == 0 {
				t.Errorf("card %+v: want a hash and the last four digits", c)
			}
		}
	}
	if err == nil {
		return
	}
	msg := quotedID.ReplaceAllString(err.Error(), "")
	for _, run := range longDigits12.FindAllString(msg, -1) {
		if strings.Contains(in, run) || bytes.Contains(unquoted(in), []byte(run)) {
			t.Errorf("error holds %d digits of the file:\n%v", len(run), err)
		}
	}
}

// unquoted is in without JSON and CSV quoting, roughly: what the parsers
// may have decoded a run of digits from ("\u0034…", or "41""11…").
func unquoted(in string) []byte {
	var out bytes.Buffer
	for i := 0; i < len(in); i++ {
		if in[i] == '\\' && i+5 < len(in) && in[i+1] == 'u' && in[i+2:i+5] == "003" {
			out.WriteByte(in[i+5])
			i += 5
			continue
		}
		if in[i] != '"' {
			out.WriteByte(in[i])
		}
	}
	return out.Bytes()
}
