package accounts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/otp"
)

// Network token numbers: they look like card numbers, and may even be one.
const (
	token     = "4895370012003478"
	token2    = "4895370012009999"
	token1111 = "4895370012001111" // ends as visa does
)

// withTokens is a with the given tokens.
func withTokens(a otp.Account, tokens ...otp.Card) otp.Account {
	a.Tokens = tokens
	return a
}

// jsonTokens is a JSON line for account A<n> with the given "tokens" value.
func jsonTokens(n int, tokens string) string {
	return fmt.Sprintf(`{"accountId":"A%d","phone":"+91987654321%d","tokens":%s}`, n, n, tokens)
}

func jsonlTokenCases() []parseCase {
	return []parseCase{
		{
			name: "tokens with and without expiry",
			in: lines(jsonTokens(1, "["+strings.Join([]string{
				jsonCard(token, `"expiryMonth":"06"`, `"expiryYear":"29"`),
				jsonCard(token2),
				jsonCard(long19, `"expiryMonth":null`, `"expiryYear":null`),
			}, ",")+"]")),
			want: []otp.Account{withTokens(account(1), testCard(token, 2029, 6), testCard(token2, 0, 0), testCard(long19, 0, 0))},
		},
		{
			name: "no tokens",
			in:   lines(jsonTokens(1, "null"), jsonTokens(2, "[]")),
			want: []otp.Account{account(1), account(2)},
		},
		{
			// Tokens and cards are apart: the same number as a card of the
			// same account, or of another, is no conflict.
			name: "a token number that is also a card number",
			in: lines(
				`{"accountId":"A1","phone":"+919876543211","cards":[`+jsonCard(visa)+`],"tokens":[`+jsonCard(visa)+`]}`,
				jsonTokens(2, "["+jsonCard(master)+"]"),
				jsonCards(3, "["+jsonCard(master)+"]"),
			),
			want: []otp.Account{
				withTokens(account(1, testCard(visa, 0, 0)), testCard(visa, 0, 0)),
				withTokens(account(2), testCard(master, 0, 0)),
				account(3, testCard(master, 0, 0)),
			},
		},
		{
			name: "bad tokens",
			in: lines(
				jsonTokens(1, "["+jsonCard(tooShort)+"]"),
				jsonTokens(2, "["+jsonCard(withSpace)+"]"),
				jsonTokens(3, `[{"expiryMonth":"01","expiryYear":"30"}]`),
				jsonTokens(4, "["+jsonCard(token, `"expiryMonth":"01"`)+"]"),
				jsonTokens(5, "["+jsonCard(token, `"expiryMonth":"13"`, `"expiryYear":"30"`)+"]"),
				jsonTokens(6, "["+jsonCard(token, `"expiryMonth":"`+master+`"`, `"expiryYear":"30"`)+"]"),
			),
			wantErrs: []string{
				"line 1: token 1: number: 11 digits, want 12 to 19",
				"line 2: token 1: number: only digits are allowed, without spaces or dashes",
				"line 3: token 1: number is missing",
				"line 4: token ending 3478: expiryMonth without expiryYear; give both or neither",
				`line 5: token ending 3478: expiryMonth "13": want 1 to 12, or 01 to 12`,
				`line 6: token ending 3478: expiryMonth "************4444": want 1 to 12, or 01 to 12`,
			},
		},
		{
			name: "tokens of the wrong shape",
			in: lines(
				jsonTokens(1, `"`+token+`"`),
				jsonTokens(2, `["`+token+`"]`),
				jsonTokens(3, "["+jsonCard(token, `"cryptogram":"AAAA"`)+"]"),
				`{"accountId":"A4","phone":"+919876543214","tokens":[],"tokens":[]}`,
				`{"accountId":"A5","phone":"+919876543215","Tokens":[]}`,
			),
			wantErrs: []string{
				"line 1: tokens: got a JSON string, want an array of objects",
				"line 2: token 1: got a JSON string, want an object",
				`line 3: token 1: unknown field "cryptogram"; want number, expiryMonth, expiryYear`,
				"line 4: field tokens given twice",
				`line 5: unknown field "Tokens"; want accountId, phone, status, associationIds, cards, tokens`,
			},
		},
		{
			name: "same token twice",
			in: lines(
				jsonTokens(1, "["+jsonCard(token)+","+jsonCard(token, `"expiryMonth":1`, `"expiryYear":30`)+"]"),
				jsonTokens(2, "["+jsonCard(token2)+"]"),
				jsonTokens(3, "["+jsonCard(token2)+"]"),
			),
			wantErrs: []string{
				"line 1: token ending 3478 given twice",
				`line 3: token ending 9999 already on line 2, for accountId "A2"`,
			},
		},
	}
}

func TestParseJSONLTokens(t *testing.T) {
	runParseCases(t, ParseJSONL, jsonlTokenCases())
}

// csvTokens is a CSV file of accounts A1, A2… with the given tokens cells.
func csvTokens(cells ...string) string {
	ls := []string{"accountId,phone,tokens"}
	for i, cell := range cells {
		ls = append(ls, fmt.Sprintf("A%d,+91987654321%d,%s", i+1, i+1, cell))
	}
	return lines(ls...)
}

func csvTokenCases() []parseCase {
	return []parseCase{
		{
			name: "tokens",
			in:   csvTokens(token+"/06/29;"+token2, long19+"/1/2031", ""),
			want: []otp.Account{
				withTokens(account(1), testCard(token, 2029, 6), testCard(token2, 0, 0)),
				withTokens(account(2), testCard(long19, 2031, 1)),
				account(3),
			},
		},
		{
			name: "cards and tokens, the same number in both",
			in: lines(
				"tokens,accountId,cards,phone",
				visa+"/01/30,A1,"+visa+";"+master+",+919876543211",
			),
			want: []otp.Account{withTokens(account(1, testCard(visa, 0, 0), testCard(master, 0, 0)), testCard(visa, 2030, 1))},
		},
		{
			name: "bad tokens",
			in:   csvTokens(tooShort, token+";;"+token2, token+"/01", token+"/2030/01"),
			wantErrs: []string{
				"line 2: token 1: number: 11 digits, want 12 to 19",
				"line 3: token 2: number is missing",
				"line 4: token ending 3478: expiryMonth without expiryYear; give both or neither",
				`line 5: token ending 3478: expiryMonth "2030": want 1 to 12, or 01 to 12`,
			},
		},
		{
			name: "same token twice",
			in:   csvTokens(token+";"+token+"/01/30", token1111, token1111),
			wantErrs: []string{
				"line 2: token ending 3478 given twice",
				`line 4: token ending 1111 already on line 3, for accountId "A2"`,
			},
		},
		{
			name:     "column twice",
			in:       lines("accountId,phone,tokens,tokens", "A1,+919876543211,"+token+","+token2),
			wantErrs: []string{"line 1: header: column tokens given twice"},
		},
	}
}

func TestParseCSVTokens(t *testing.T) {
	runParseCases(t, ParseCSV, csvTokenCases())
}

func TestTokensWithoutHash(t *testing.T) {
	for name, in := range map[string]struct {
		parse parser
		in    string
		line  int
	}{
		"jsonl": {ParseJSONL, lines(
			jsonTokens(1, "["+jsonCard(token)+"]"),
			`{"accountId":"A2","phone":"+919876543212","cards":[`+jsonCard(visa)+`],"tokens":[`+jsonCard(token2)+`]}`,
		), 1},
		"csv": {ParseCSV, lines("accountId,phone,cards,tokens", "A1,+919876543211,,"+token, "A2,+919876543212,"+visa+","+token2), 2},
	} {
		got, err := in.parse(strings.NewReader(in.in), nil)
		if got != nil {
			t.Errorf("%s: returned %d accounts along with the error", name, len(got))
		}
		// One error a list, where it first has numbers.
		want := []string{
			fmt.Sprintf("line %d: tokens cannot be imported: no card secret is configured to hash them with", in.line),
			fmt.Sprintf("line %d: cards cannot be imported: no card secret is configured to hash them with", in.line+1),
		}
		if diff := cmp.Diff(want, errorLines(err)); diff != "" {
			t.Errorf("%s: errors mismatch (-want +got):\n%s", name, diff)
		}
	}
}
