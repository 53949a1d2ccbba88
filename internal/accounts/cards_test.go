package accounts

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/otp"
)

// testHash is the hashCard of the tests: HMAC-SHA-256 under a fixed key, as
// the deployment's card secret would be.
func testHash(number string) []byte {
	m := hmac.New(sha256.New, []byte("otpgate test card secret"))
	m.Write([]byte(number))
	return m.Sum(nil)
}

// Card numbers. The import does not apply the Luhn check: googleExample,
// the example card of Google's documentation, fails it.
const (
	visa          = "4111111111111111"
	visa1111      = "4000000000061111" // another card ending 1111
	master        = "5555555555554444"
	amex          = "378282246310005"
	short12       = "500000000009"
	long19        = "4000000000000000006"
	visa13        = "4222222222222"
	googleExample = "4123456789101112" // fails the Luhn check
	tooShort      = "41111111111"      // 11 digits
	tooLong       = "41111111111111111111"
	withSpace     = "4111 1111 1111 1111"
)

func testCard(number string, year, month int) otp.Card {
	return otp.Card{Hash: testHash(number), Last4: number[len(number)-4:], ExpiryYear: year, ExpiryMonth: month}
}

// account is an active account A<n> with the given cards.
func account(n int, cards ...otp.Card) otp.Account {
	return otp.Account{
		ID:     fmt.Sprintf("A%d", n),
		Phone:  fmt.Sprintf("+91987654321%d", n),
		Status: otp.StatusActive,
		Cards:  cards,
	}
}

// jsonCards is a JSON line for account A<n> with the given "cards" value.
func jsonCards(n int, cards string) string {
	return fmt.Sprintf(`{"accountId":"A%d","phone":"+91987654321%d","cards":%s}`, n, n, cards)
}

// jsonCard is a card object.
func jsonCard(number string, rest ...string) string {
	return `{"number":"` + number + `"` + strings.Join(append([]string{""}, rest...), ",") + `}`
}

func jsonlCardCases() []parseCase {
	return []parseCase{
		{
			name: "one card",
			in:   lines(jsonCards(1, `[{"number":"`+visa+`","expiryMonth":"01","expiryYear":"30"}]`)),
			want: []otp.Account{account(1, testCard(visa, 2030, 1))},
		},
		{
			name: "expiry forms",
			in: lines(jsonCards(1, "["+strings.Join([]string{
				jsonCard(visa, `"expiryMonth":"1"`, `"expiryYear":"2030"`),
				jsonCard(master, `"expiryYear":31`, `"expiryMonth":12`),
				jsonCard(amex, `"expiryMonth":9`, `"expiryYear":2099`),
				jsonCard(short12, `"expiryMonth":"09"`, `"expiryYear":"00"`),
			}, ",")+"]")),
			want: []otp.Account{account(1,
				testCard(visa, 2030, 1),
				testCard(master, 2031, 12),
				testCard(amex, 2099, 9),
				testCard(short12, 2000, 9),
			)},
		},
		{
			name: "no expiry",
			in: lines(jsonCards(1, "["+strings.Join([]string{
				jsonCard(visa),
				jsonCard(master, `"expiryMonth":null`, `"expiryYear":null`),
			}, ",")+"]")),
			want: []otp.Account{account(1, testCard(visa, 0, 0), testCard(master, 0, 0))},
		},
		{
			name: "lengths from 12 to 19 digits",
			in:   lines(jsonCards(1, "["+jsonCard(short12)+","+jsonCard(visa13)+","+jsonCard(amex)+","+jsonCard(long19)+"]")),
			want: []otp.Account{account(1, testCard(short12, 0, 0), testCard(visa13, 0, 0), testCard(amex, 0, 0), testCard(long19, 0, 0))},
		},
		{
			name: "no cards",
			in:   lines(jsonCards(1, "null"), jsonCards(2, "[]"), `{"accountId":"A3","phone":"+919876543213"}`),
			want: []otp.Account{account(1), account(2), account(3)},
		},
		{
			name: "cards on several accounts",
			in: lines(
				jsonCards(1, "["+jsonCard(visa)+"]"),
				jsonCards(2, "["+jsonCard(visa1111, `"expiryMonth":"3"`, `"expiryYear":"28"`)+","+jsonCard(master)+"]"),
			),
			want: []otp.Account{account(1, testCard(visa, 0, 0)), account(2, testCard(visa1111, 2028, 3), testCard(master, 0, 0))},
		},
		{
			name: "spaces around the keys and values",
			in:   lines(jsonCards(1, ` [ { "number" : "`+visa+`" , "expiryMonth" : 1 , "expiryYear" : "30" } ] `)),
			want: []otp.Account{account(1, testCard(visa, 2030, 1))},
		},

		// The number.
		{
			name: "bad lengths",
			in:   lines(jsonCards(1, "["+jsonCard(tooShort)+"]"), jsonCards(2, "["+jsonCard(visa)+","+jsonCard(tooLong)+"]")),
			wantErrs: []string{
				"line 1: card 1: number: 11 digits, want 12 to 19",
				"line 2: card 2: number: 20 digits, want 12 to 19",
			},
		},
		{
			name: "not only digits",
			in: lines(
				jsonCards(1, "["+jsonCard("4111x11111111111")+"]"),
				jsonCards(2, "["+jsonCard(withSpace)+"]"),
				jsonCards(3, "["+jsonCard("4111-1111-1111-1111")+"]"),
				jsonCards(4, "["+jsonCard("４111111111111111")+"]"),
				jsonCards(5, "["+jsonCard(" "+visa)+"]"),
			),
			wantErrs: []string{
				"line 1: card 1: number: only digits are allowed, without spaces or dashes",
				"line 2: card 1: number: only digits are allowed, without spaces or dashes",
				"line 3: card 1: number: only digits are allowed, without spaces or dashes",
				"line 4: card 1: number: only digits are allowed, without spaces or dashes",
				"line 5: card 1: number: only digits are allowed, without spaces or dashes",
			},
		},
		{
			name: "missing number",
			in: lines(
				jsonCards(1, `[{"expiryMonth":"01","expiryYear":"30"}]`),
				jsonCards(2, `[{"number":null}]`),
				jsonCards(3, `[{"number":""}]`),
				jsonCards(4, `[{}]`),
			),
			wantErrs: []string{
				"line 1: card 1: number is missing",
				"line 2: card 1: number is missing",
				"line 3: card 1: number is missing",
				"line 4: card 1: number is missing",
			},
		},
		{
			name:     "number as a JSON number",
			in:       lines(jsonCards(1, `[{"number":`+visa+`}]`)),
			wantErrs: []string{"line 1: card 1: number: got a JSON number, want a string"},
		},

		// The expiry.
		{
			name: "bad month",
			in: lines(
				jsonCards(1, "["+jsonCard(visa, `"expiryMonth":"13"`, `"expiryYear":"30"`)+"]"),
				jsonCards(2, "["+jsonCard(master, `"expiryMonth":"0"`, `"expiryYear":"30"`)+"]"),
				jsonCards(3, "["+jsonCard(amex, `"expiryMonth":"001"`, `"expiryYear":"30"`)+"]"),
				jsonCards(4, "["+jsonCard(visa13, `"expiryMonth":13`, `"expiryYear":"30"`)+"]"),
				jsonCards(5, "["+jsonCard(short12, `"expiryMonth":""`, `"expiryYear":"30"`)+"]"),
				jsonCards(6, "["+jsonCard(long19, `"expiryMonth":1.0`, `"expiryYear":"30"`)+"]"),
				jsonCards(7, "["+jsonCard(visa1111, `"expiryMonth":-1`, `"expiryYear":"30"`)+"]"),
			),
			wantErrs: []string{
				`line 1: card ending 1111: expiryMonth "13": want 1 to 12, or 01 to 12`,
				`line 2: card ending 4444: expiryMonth "0": want 1 to 12, or 01 to 12`,
				`line 3: card ending 0005: expiryMonth "001": want 1 to 12, or 01 to 12`,
				`line 4: card ending 2222: expiryMonth "13": want 1 to 12, or 01 to 12`,
				`line 5: card ending 0009: expiryMonth "": want 1 to 12, or 01 to 12`,
				`line 6: card ending 0006: expiryMonth "1.0": want 1 to 12, or 01 to 12`,
				`line 7: card ending 1111: expiryMonth "-1": want 1 to 12, or 01 to 12`,
			},
		},
		{
			name: "bad year",
			in: lines(
				jsonCards(1, "["+jsonCard(visa, `"expiryMonth":"01"`, `"expiryYear":"3"`)+"]"),
				jsonCards(2, "["+jsonCard(master, `"expiryMonth":"01"`, `"expiryYear":"203"`)+"]"),
				jsonCards(3, "["+jsonCard(amex, `"expiryMonth":"01"`, `"expiryYear":"1999"`)+"]"),
				jsonCards(4, "["+jsonCard(visa13, `"expiryMonth":"01"`, `"expiryYear":20300`)+"]"),
				jsonCards(5, "["+jsonCard(short12, `"expiryMonth":"01"`, `"expiryYear":"3O"`)+"]"),
			),
			wantErrs: []string{
				`line 1: card ending 1111: expiryYear "3": want two digits (20YY), or four from 2000 to 2099`,
				`line 2: card ending 4444: expiryYear "203": want two digits (20YY), or four from 2000 to 2099`,
				`line 3: card ending 0005: expiryYear "1999": want two digits (20YY), or four from 2000 to 2099`,
				`line 4: card ending 2222: expiryYear "*0300": want two digits (20YY), or four from 2000 to 2099`,
				`line 5: card ending 0009: expiryYear "3O": want two digits (20YY), or four from 2000 to 2099`,
			},
		},
		{
			name: "expiry half given",
			in: lines(
				jsonCards(1, "["+jsonCard(visa, `"expiryMonth":"01"`)+"]"),
				jsonCards(2, "["+jsonCard(master, `"expiryYear":"30"`)+"]"),
				jsonCards(3, "["+jsonCard(amex, `"expiryMonth":"01"`, `"expiryYear":null`)+"]"),
			),
			wantErrs: []string{
				"line 1: card ending 1111: expiryMonth without expiryYear; give both or neither",
				"line 2: card ending 4444: expiryYear without expiryMonth; give both or neither",
				"line 3: card ending 0005: expiryMonth without expiryYear; give both or neither",
			},
		},
		{
			name: "expiry of the wrong JSON type",
			in: lines(
				jsonCards(1, "["+jsonCard(visa, `"expiryMonth":true`, `"expiryYear":"30"`)+"]"),
				jsonCards(2, "["+jsonCard(visa, `"expiryMonth":"01"`, `"expiryYear":["30"]`)+"]"),
				jsonCards(3, "["+jsonCard(visa, `"expiryMonth":{"m":1}`, `"expiryYear":"30"`)+"]"),
			),
			wantErrs: []string{
				"line 1: card 1: expiryMonth: got a JSON bool, want a string or a number",
				"line 2: card 1: expiryYear: got a JSON array, want a string or a number",
				"line 3: card 1: expiryMonth: got a JSON object, want a string or a number",
			},
		},
		{
			name: "a bad number and a bad expiry",
			in:   lines(jsonCards(1, "["+jsonCard(googleExample, `"expiryMonth":"13"`, `"expiryYear":"30"`)+","+jsonCard(tooShort, `"expiryMonth":"1"`)+"]")),
			wantErrs: []string{
				`line 1: card ending 1112: expiryMonth "13": want 1 to 12, or 01 to 12`,
				"line 1: card 2: number: 11 digits, want 12 to 19",
				"line 1: card 2: expiryMonth without expiryYear; give both or neither",
			},
		},
		{
			// A card number pasted where it does not belong is masked.
			name: "card number in an expiry field",
			in:   lines(jsonCards(1, "["+jsonCard(visa, `"expiryMonth":"`+master+`"`, `"expiryYear":`+amex)+"]")),
			wantErrs: []string{
				`line 1: card ending 1111: expiryMonth "************4444": want 1 to 12, or 01 to 12`,
				`line 1: card ending 1111: expiryYear "***********0005": want two digits (20YY), or four from 2000 to 2099`,
			},
		},

		// The structure.
		{
			name:     "unknown key in a card",
			in:       lines(jsonCards(1, "["+jsonCard(master)+","+jsonCard(visa, `"cvv":"123"`)+"]")),
			wantErrs: []string{`line 1: card 2: unknown field "cvv"; want number, expiryMonth, expiryYear`},
		},
		{
			name: "key of a card in the wrong case",
			in:   lines(jsonCards(1, `[{"Number":"`+visa+`"}]`), jsonCards(2, "["+jsonCard(visa, `"expirymonth":"01"`, `"expiryYear":"30"`)+"]")),
			wantErrs: []string{
				`line 1: card 1: unknown field "Number"; want number, expiryMonth, expiryYear`,
				`line 2: card 1: unknown field "expirymonth"; want number, expiryMonth, expiryYear`,
			},
		},
		{
			name: "card number as a key",
			in:   lines(jsonCards(1, `[{"`+visa+`":"01/30"}]`), `{"accountId":"A2","phone":"+919876543212","`+master+`":"01/30"}`),
			wantErrs: []string{
				`line 1: card 1: unknown field "************1111"; want number, expiryMonth, expiryYear`,
				`line 2: unknown field "************4444"; want accountId, phone, status, associationIds, cards, tokens`,
			},
		},
		{
			name:     "key of a card twice",
			in:       lines(jsonCards(1, `[{"number":"`+visa+`","number":"`+master+`"}]`)),
			wantErrs: []string{"line 1: card 1: field number given twice"},
		},
		{
			name:     "cards twice",
			in:       lines(`{"accountId":"A1","phone":"+919876543211","cards":[],"cards":[]}`),
			wantErrs: []string{"line 1: field cards given twice"},
		},
		{
			name: "cards not an array of objects",
			in: lines(
				jsonCards(1, `"`+visa+`"`),
				jsonCards(2, jsonCard(visa)),
				jsonCards(3, `["`+visa+`"]`),
				jsonCards(4, `[`+visa+`]`),
				jsonCards(5, `[null]`),
				jsonCards(6, `[[]]`),
				jsonCards(7, `true`),
			),
			wantErrs: []string{
				"line 1: cards: got a JSON string, want an array of objects",
				"line 2: cards: got a JSON object, want an array of objects",
				"line 3: card 1: got a JSON string, want an object",
				"line 4: card 1: got a JSON number, want an object",
				"line 5: card 1: got JSON null, want an object",
				"line 6: card 1: got a JSON array, want an object",
				"line 7: cards: got a JSON bool, want an array of objects",
			},
		},
		{
			name: "broken JSON in cards",
			in: lines(
				`{"accountId":"A1","phone":"+919876543211","cards":[{"number":"`+visa+`"}`,
				`{"accountId":"A2","phone":"+919876543212","cards":[{"number":"`+visa+`" "expiryMonth":1}]}`,
				`{"accountId":"A3","phone":"+919876543213","cards":[{"number":`+visa+`x}]}`,
			),
			wantErrs: []string{
				"line 1: cards: invalid JSON: unexpected end of line",
				`line 2: card 1: invalid JSON: invalid character '"' after object key:value pair`,
				// The decoder reads the number before the 'x'.
				"line 3: card 1: number: got a JSON number, want a string",
			},
		},

		// Duplicates.
		{
			name:     "same card twice in an account",
			in:       lines(jsonCards(1, "["+jsonCard(visa)+","+jsonCard(master)+","+jsonCard(visa, `"expiryMonth":1`, `"expiryYear":30`)+"]")),
			wantErrs: []string{"line 1: card ending 1111 given twice"},
		},
		{
			name: "same card on two accounts",
			in: lines(
				jsonCards(1, "["+jsonCard(visa)+"]"),
				jsonCards(2, "["+jsonCard(master)+","+jsonCard(visa1111)+"]"),
				jsonCards(3, "["+jsonCard(master, `"expiryMonth":1`, `"expiryYear":30`)+","+jsonCard(visa)+"]"),
			),
			wantErrs: []string{
				`line 3: card ending 4444 already on line 2, for accountId "A2"`,
				`line 3: card ending 1111 already on line 1, for accountId "A1"`,
			},
		},
		{
			name: "same card under a repeated accountId",
			in: lines(
				jsonCards(1, "["+jsonCard(visa)+"]"),
				jsonCards(1, "["+jsonCard(visa)+"]"),
			),
			wantErrs: []string{`line 2: accountId "A1" already on line 1`},
		},
		{
			name: "card problems along with others",
			in:   lines(`{"accountId":"A1","phone":"+442079460000","cards":[` + jsonCard(googleExample, `"expiryMonth":"13"`, `"expiryYear":"30"`) + `]}`),
			wantErrs: []string{
				`line 1: phone "+********0000": not a mobile number (fixed line)`,
				`line 1: card ending 1112: expiryMonth "13": want 1 to 12, or 01 to 12`,
			},
		},
	}
}

func TestParseJSONLCards(t *testing.T) {
	runParseCases(t, ParseJSONL, jsonlCardCases())
}

// csvCards is a CSV file of accounts A1, A2… with the given cards cells.
func csvCards(cells ...string) string {
	ls := []string{"accountId,phone,cards"}
	for i, cell := range cells {
		ls = append(ls, fmt.Sprintf("A%d,+91987654321%d,%s", i+1, i+1, cell))
	}
	return lines(ls...)
}

func csvCardCases() []parseCase {
	return []parseCase{
		{
			name: "cards",
			in:   csvCards(visa+"/01/30;"+master+"/12/2031;"+amex, short12+"/9/00", ""),
			want: []otp.Account{
				account(1, testCard(visa, 2030, 1), testCard(master, 2031, 12), testCard(amex, 0, 0)),
				account(2, testCard(short12, 2000, 9)),
				account(3),
			},
		},
		{
			name: "lengths from 12 to 19 digits",
			in:   csvCards(short12 + ";" + visa13 + ";" + amex + ";" + long19),
			want: []otp.Account{account(1, testCard(short12, 0, 0), testCard(visa13, 0, 0), testCard(amex, 0, 0), testCard(long19, 0, 0))},
		},
		{
			name: "quoted cell, other columns",
			in: lines(
				"cards,status,phone,accountId,associationIds",
				`"`+visa+`/01/30;`+visa1111+`",closed,+919876543211,A1,as-1`,
			),
			want: []otp.Account{{
				ID: "A1", Phone: "+919876543211", Status: otp.StatusClosed, AssociationIDs: []string{"as-1"},
				Cards: []otp.Card{testCard(visa, 2030, 1), testCard(visa1111, 0, 0)},
			}},
		},
		{
			name: "bad lengths",
			in:   csvCards(tooShort, visa+";"+tooLong+"/01/30"),
			wantErrs: []string{
				"line 2: card 1: number: 11 digits, want 12 to 19",
				"line 3: card 2: number: 20 digits, want 12 to 19",
			},
		},
		{
			name: "not only digits",
			in:   csvCards("4111x11111111111", `"`+withSpace+`"`, visa+"; "+master, `"`+visa+","+master+`"`, "4111-1111-1111-1111/01/30"),
			wantErrs: []string{
				"line 2: card 1: number: only digits are allowed, without spaces or dashes",
				"line 3: card 1: number: only digits are allowed, without spaces or dashes",
				"line 4: card 2: number: only digits are allowed, without spaces or dashes",
				"line 5: card 1: number: only digits are allowed, without spaces or dashes",
				"line 6: card 1: number: only digits are allowed, without spaces or dashes",
			},
		},
		{
			name: "empty card",
			in:   csvCards(visa+";;"+master, amex+";", ";"+short12, "/01/30"),
			wantErrs: []string{
				"line 2: card 2: number is missing",
				"line 3: card 2: number is missing",
				"line 4: card 1: number is missing",
				"line 5: card 1: number is missing",
			},
		},
		{
			name: "bad month",
			in:   csvCards(visa+"/13/30", master+"/0/30", amex+"/001/2030", short12+"//30", visa13+"/ 1/30"),
			wantErrs: []string{
				`line 2: card ending 1111: expiryMonth "13": want 1 to 12, or 01 to 12`,
				`line 3: card ending 4444: expiryMonth "0": want 1 to 12, or 01 to 12`,
				`line 4: card ending 0005: expiryMonth "001": want 1 to 12, or 01 to 12`,
				`line 5: card ending 0009: expiryMonth "": want 1 to 12, or 01 to 12`,
				`line 6: card ending 2222: expiryMonth " 1": want 1 to 12, or 01 to 12`,
			},
		},
		{
			name: "bad year",
			in:   csvCards(visa+"/01/3", master+"/01/203", amex+"/01/1999", short12+"/01/", visa13+"/01/30/1"),
			wantErrs: []string{
				`line 2: card ending 1111: expiryYear "3": want two digits (20YY), or four from 2000 to 2099`,
				`line 3: card ending 4444: expiryYear "203": want two digits (20YY), or four from 2000 to 2099`,
				`line 4: card ending 0005: expiryYear "1999": want two digits (20YY), or four from 2000 to 2099`,
				`line 5: card ending 0009: expiryYear "": want two digits (20YY), or four from 2000 to 2099`,
				`line 6: card ending 2222: expiryYear "30/1": want two digits (20YY), or four from 2000 to 2099`,
			},
		},
		{
			name:     "expiry half given",
			in:       csvCards(visa + "/01"),
			wantErrs: []string{"line 2: card ending 1111: expiryMonth without expiryYear; give both or neither"},
		},
		{
			// Month and year swapped: 2030 is no month.
			name:     "expiry in the wrong order",
			in:       csvCards(visa + "/2030/01"),
			wantErrs: []string{`line 2: card ending 1111: expiryMonth "2030": want 1 to 12, or 01 to 12`},
		},
		{
			name: "a card number in the expiry",
			in:   csvCards(visa+"/"+master+"/30", visa1111+"/01/"+master),
			wantErrs: []string{
				`line 2: card ending 1111: expiryMonth "************4444": want 1 to 12, or 01 to 12`,
				`line 3: card ending 1111: expiryYear "************4444": want two digits (20YY), or four from 2000 to 2099`,
			},
		},
		{
			name:     "unknown column",
			in:       lines("accountId,phone,card", "A1,+919876543211,"+visa),
			wantErrs: []string{`line 1: header: unknown column "card"; want accountId, phone, status, associationIds, cards, tokens`},
		},
		{
			// A file without its header row, starting with the cards.
			name:     "card number as a column name",
			in:       lines(visa+",A1,+919876543211", master+",A2,+919876543212"),
			wantErrs: []string{`line 1: header: unknown column "************1111"; want accountId, phone, status, associationIds, cards, tokens`},
		},
		{
			name:     "same card twice in an account",
			in:       csvCards(visa + ";" + master + ";" + visa + "/01/30"),
			wantErrs: []string{"line 2: card ending 1111 given twice"},
		},
		{
			name: "same card on two accounts",
			in:   csvCards(visa, master+";"+visa1111, master+"/01/30;"+visa),
			wantErrs: []string{
				`line 4: card ending 4444 already on line 3, for accountId "A2"`,
				`line 4: card ending 1111 already on line 2, for accountId "A1"`,
			},
		},
	}
}

func TestParseCSVCards(t *testing.T) {
	runParseCases(t, ParseCSV, csvCardCases())
}

// cardNumbers finds the card numbers of a test input, (bad ones included):
// runs of 12 and more digits that are not phone numbers.
var cardNumbers = regexp.MustCompile(`(?:^|[^+0-9])([0-9]{12,})`)

// TestCardNumbersNotLeaked runs every card and token test and looks for the
// numbers of its input in what the parse returns: error messages and
// accounts. It also checks that only valid numbers reach hashCard.
func TestCardNumbersNotLeaked(t *testing.T) {
	var mu sync.Mutex
	var hashed []string
	spy := func(number string) []byte {
		mu.Lock()
		defer mu.Unlock()
		hashed = append(hashed, number)
		return testHash(number)
	}
	for _, p := range []struct {
		name  string
		parse parser
		cases []parseCase
	}{
		{"jsonl", ParseJSONL, jsonlCardCases()},
		{"csv", ParseCSV, csvCardCases()},
		{"jsonl tokens", ParseJSONL, jsonlTokenCases()},
		{"csv tokens", ParseCSV, csvTokenCases()},
	} {
		for _, tt := range p.cases {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				var numbers []string
				for _, m := range cardNumbers.FindAllStringSubmatch(tt.in, -1) {
					numbers = append(numbers, m[1])
				}
				// The tests with a number in another form.
				for _, n := range []string{visa, withSpace, "4111-1111-1111-1111", "4111x11111111111"} {
					if strings.Contains(tt.in, n) {
						numbers = append(numbers, n, strings.Map(digitsOnly, n))
					}
				}
				if len(numbers) == 0 {
					t.Skip("no card number in the input")
				}

				hashed = nil
				accts, err := p.parse(strings.NewReader(tt.in), spy)
				out := fmt.Sprintf("%+v\n%#v\n%v", accts, accts, err)
				for _, e := range errorLines(err) {
					out += "\n" + e
				}
				for _, n := range numbers {
					if strings.Contains(out, n) {
						t.Errorf("output contains card number %s:\n%s", n, out)
					}
				}
				// Only a valid number may reach hashCard.
				for _, n := range hashed {
					if !allDigits(n) || len(n) < minCardLen || len(n) > maxCardLen {
						t.Errorf("hashCard called with an invalid number ending %s", n[max(0, len(n)-4):])
					}
				}
			})
		}
	}
}

func digitsOnly(r rune) rune {
	if '0' <= r && r <= '9' {
		return r
	}
	return -1
}

func TestCardsWithoutHash(t *testing.T) {
	// Without a card secret, a file without cards is read as ever…
	got, err := ParseJSONL(strings.NewReader(lines(jsonCards(1, "[]"), `{"accountId":"A2","phone":"+919876543212"}`)), nil)
	if err != nil {
		t.Fatalf("ParseJSONL without cards, nil hashCard: %v", err)
	}
	if diff := cmp.Diff([]otp.Account{account(1), account(2)}, got); diff != "" {
		t.Errorf("accounts mismatch (-want +got):\n%s", diff)
	}
	// …and one with cards is rejected, with one error for the file.
	for name, in := range map[string]struct {
		parse parser
		in    string
	}{
		"jsonl": {ParseJSONL, lines(jsonCards(1, "["+jsonCard(visa)+"]"), jsonCards(2, "["+jsonCard(master)+"]"))},
		"csv":   {ParseCSV, csvCards(visa, master)},
	} {
		got, err := in.parse(strings.NewReader(in.in), nil)
		if got != nil {
			t.Errorf("%s: returned %d accounts along with the error", name, len(got))
		}
		line := 1
		if name == "csv" {
			line = 2
		}
		want := []string{fmt.Sprintf("line %d: cards cannot be imported: no card secret is configured to hash them with", line)}
		if diff := cmp.Diff(want, errorLines(err)); diff != "" {
			t.Errorf("%s: errors mismatch (-want +got):\n%s", name, diff)
		}
	}
}

// TestGoogleExampleCard imports the example card of Google's documentation,
// which fails the Luhn check: the import does not apply it, since issuers
// load test cards like it.
func TestGoogleExampleCard(t *testing.T) {
	want := []otp.Account{account(1, otp.Card{Hash: testHash(googleExample), Last4: "1112", ExpiryYear: 2030, ExpiryMonth: 1})}
	for name, in := range map[string]struct {
		parse parser
		in    string
	}{
		"jsonl": {ParseJSONL, lines(jsonCards(1, "["+jsonCard(googleExample, `"expiryMonth":"01"`, `"expiryYear":"30"`)+"]"))},
		"csv":   {ParseCSV, csvCards(googleExample + "/01/30")},
	} {
		got, err := in.parse(strings.NewReader(in.in), testHash)
		if err != nil {
			t.Errorf("%s: unexpected error:\n%v", name, err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: accounts mismatch (-want +got):\n%s", name, diff)
		}
	}
}

func TestQuoteMasked(t *testing.T) {
	for in, want := range map[string]string{
		"":                  `""`,
		"13":                `"13"`,
		"2030":              `"2030"`,
		"20301":             `"*0301"`,
		"cvv":               `"cvv"`,
		visa:                `"************1111"`,
		withSpace:           `"**** **** **** 1111"`,
		"x" + visa + "/01":  `"x**************11/01"`,
		"expiry" + visa[:3]: `"expiry411"`,
	} {
		if got := quoteMasked(in); got != want {
			t.Errorf("quoteMasked(%q) = %s, want %s", in, got, want)
		}
	}
}
