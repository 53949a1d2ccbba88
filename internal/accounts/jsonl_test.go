package accounts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/otp"
)

// lines joins lines with "\n", and a final one.
func lines(ls ...string) string { return strings.Join(ls, "\n") + "\n" }

func TestParseJSONL(t *testing.T) {
	good := []otp.Account{
		{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive, AssociationIDs: []string{"as-1", "as-2"}},
		{ID: "A2", Phone: "+14035551111", Status: otp.StatusClosedFraud},
		{ID: "acct:3_x.y-z", Phone: "+447400123456", Status: otp.StatusActive},
		{ID: "A4", Phone: "+918067218010", Status: otp.StatusNotEligible},
	}
	goodLines := []string{
		`{"accountId":"A1","phone":"+919876543210","status":"active","associationIds":["as-1","as-2"]}`,
		`{"accountId":"A2","phone":"+14035551111","status":"closed_fraud"}`,
		`{"associationIds":[],"phone":"+447400123456","accountId":"acct:3_x.y-z"}`,
		` { "accountId" : "A4", "phone": "+918067218010", "status": "not_eligible", "associationIds": null } `,
	}
	valid := func(id string) string { return fmt.Sprintf(`{"accountId":%q,"phone":"+919876543210"}`, id) }

	tests := []parseCase{
		{name: "good", in: lines(goodLines...), want: good},
		{name: "empty file", in: "", want: nil},
		{name: "no final newline", in: strings.Join(goodLines, "\n"), want: good},
		{name: "CRLF", in: strings.Join(goodLines, "\r\n") + "\r\n", want: good},
		{name: "BOM", in: "\ufeff" + lines(goodLines...), want: good},
		{
			name: "blank lines",
			in:   "\n" + goodLines[0] + "\n\n  \t\n" + strings.Join(goodLines[1:], "\r\n\r\n") + "\n\n",
			want: good,
		},
		{
			name: "status default",
			in:   lines(`{"accountId":"A1","phone":"+919876543210"}`, `{"accountId":"A2","phone":"+33612345678","status":""}`, `{"accountId":"A3","phone":"+4915123456789","status":null}`),
			want: []otp.Account{
				{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive},
				{ID: "A2", Phone: "+33612345678", Status: otp.StatusActive},
				{ID: "A3", Phone: "+4915123456789", Status: otp.StatusActive},
			},
		},
		{
			name: "association ids deduplicated within a row",
			in:   lines(`{"accountId":"A1","phone":"+919876543210","associationIds":["as-2","as-1","as-2","as-1"]}`),
			want: []otp.Account{{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive, AssociationIDs: []string{"as-2", "as-1"}}},
		},
		{
			name: "every status",
			in: lines(
				`{"accountId":"A1","phone":"+919876543210","status":"active"}`,
				`{"accountId":"A2","phone":"+919876543211","status":"not_eligible"}`,
				`{"accountId":"A3","phone":"+919876543212","status":"closed"}`,
				`{"accountId":"A4","phone":"+919876543213","status":"closed_account_taken_over"}`,
				`{"accountId":"A5","phone":"+919876543214","status":"closed_fraud"}`,
			),
			want: []otp.Account{
				{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive},
				{ID: "A2", Phone: "+919876543211", Status: otp.StatusNotEligible},
				{ID: "A3", Phone: "+919876543212", Status: otp.StatusClosed},
				{ID: "A4", Phone: "+919876543213", Status: otp.StatusClosedAccountTakenOver},
				{ID: "A5", Phone: "+919876543214", Status: otp.StatusClosedFraud},
			},
		},
		{
			// The directory allows it (AccountByPhone picks one), so the
			// import does too.
			name: "two accounts, one phone",
			in:   lines(`{"accountId":"A1","phone":"+919876543210"}`, `{"accountId":"A2","phone":"+919876543210","status":"closed"}`),
			want: []otp.Account{
				{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive},
				{ID: "A2", Phone: "+919876543210", Status: otp.StatusClosed},
			},
		},

		// JSON problems.
		{
			name:     "truncated object",
			in:       lines(valid("A1"), `{"accountId":"A2",`),
			wantErrs: []string{"line 2: invalid JSON: unexpected end of line"},
		},
		{
			name:     "syntax error",
			in:       lines(valid("A1"), `{"accountId":"A2" "phone":"+919876543211"}`),
			wantErrs: []string{`line 2: invalid JSON: invalid character '"' after object key:value pair`},
		},
		{
			name:     "not an object",
			in:       lines(`["A1","+919876543210"]`, `null`, `"A1"`),
			wantErrs: []string{"line 1: not a JSON object", "line 2: not a JSON object", "line 3: not a JSON object"},
		},
		{
			name:     "two objects on a line",
			in:       lines(valid("A1") + " " + valid("A2")),
			wantErrs: []string{"line 1: invalid JSON: more after the object"},
		},
		{
			name:     "garbage after the object",
			in:       lines(valid("A1") + ","),
			wantErrs: []string{"line 1: invalid JSON: more after the object"},
		},
		{
			name:     "unknown field",
			in:       lines(valid("A1"), `{"accountId":"A2","phone":"+919876543211","stauts":"closed"}`),
			wantErrs: []string{`line 2: unknown field "stauts"; want accountId, phone, status, associationIds, cards, tokens`},
		},
		{
			name:     "field name in the wrong case",
			in:       lines(`{"accountId":"A1","Phone":"+919876543210"}`),
			wantErrs: []string{`line 1: unknown field "Phone"; want accountId, phone, status, associationIds, cards, tokens`},
		},
		{
			name:     "field twice",
			in:       lines(`{"accountId":"A1","phone":"+919876543210","status":"closed","status":"active"}`),
			wantErrs: []string{`line 1: field status given twice`},
		},
		{
			name: "wrong JSON types",
			in: lines(
				`{"accountId":1,"phone":"+919876543210"}`,
				`{"accountId":"A2","phone":919876543211}`,
				`{"accountId":"A3","phone":"+919876543212","associationIds":"as-1"}`,
				`{"accountId":"A4","phone":"+919876543213","associationIds":["as-1",2]}`,
				`{"accountId":"A5","phone":"+919876543214","status":true}`,
				`{"accountId":{"id":"A6"},"phone":"+919876543215"}`,
			),
			wantErrs: []string{
				"line 1: accountId: got a JSON number, want a string",
				"line 2: phone: got a JSON number, want a string",
				"line 3: associationIds: got a JSON string, want an array of strings",
				"line 4: associationIds: got a JSON number, want a string",
				"line 5: status: got a JSON bool, want a string",
				"line 6: accountId: got a JSON object, want a string",
			},
		},

		// Field problems.
		{
			name:     "missing accountId",
			in:       lines(valid("A1"), `{"phone":"+919876543211"}`),
			wantErrs: []string{"line 2: accountId is missing"},
		},
		{
			name:     "missing phone",
			in:       lines(valid("A1"), `{"accountId":"A2"}`, `{"accountId":"A3","phone":""}`),
			wantErrs: []string{"line 2: phone is missing", "line 3: phone is missing"},
		},
		{
			name: "bad accountId",
			in:   lines(valid("A 1"), valid(strings.Repeat("x", 101)), valid("A/1"), valid("Ä1")),
			wantErrs: []string{
				`line 1: accountId "A 1": invalid character ' '; allowed are letters, digits and ":_.-"`,
				`line 2: accountId "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"…: longer than 100 characters`,
				`line 3: accountId "A/1": invalid character '/'; allowed are letters, digits and ":_.-"`,
				`line 4: accountId "Ä1": invalid character 'Ä'; allowed are letters, digits and ":_.-"`,
			},
		},
		{
			name: "bad phone",
			in: lines(
				`{"accountId":"A1","phone":"919876543210"}`,
				`{"accountId":"A2","phone":"+91 98765 43210"}`,
				`{"accountId":"A3","phone":"+447700900123"}`,
				`{"accountId":"A4","phone":"+442079460000"}`,
				`{"accountId":"A5","phone":"+18005550199"}`,
				`{"accountId":"A6","phone":"+4407400123456"}`,
			),
			wantErrs: []string{
				`line 1: phone "********3210": not in E.164 format: must start with '+'`,
				`line 2: phone "+**********3210": not in E.164 format: only digits may follow '+'`,
				`line 3: phone "+********0123": not a valid phone number`,
				`line 4: phone "+********0000": not a mobile number (fixed line)`,
				`line 5: phone "+*******0199": not a mobile number (toll-free)`,
				`line 6: phone "+*********3456": not in E.164 format: not canonical (national prefix after the country code?)`,
			},
		},
		{
			name: "bad status",
			in:   lines(`{"accountId":"A1","phone":"+919876543210","status":"Active"}`, `{"accountId":"A2","phone":"+919876543211","status":"frozen"}`),
			wantErrs: []string{
				`line 1: status "Active": unknown; want one of active, not_eligible, closed, closed_account_taken_over, closed_fraud`,
				`line 2: status "frozen": unknown; want one of active, not_eligible, closed, closed_account_taken_over, closed_fraud`,
			},
		},
		{
			name: "bad association ids",
			in: lines(
				`{"accountId":"A1","phone":"+919876543210","associationIds":[""]}`,
				`{"accountId":"A2","phone":"+919876543211","associationIds":["as-2","as 3"]}`,
				`{"accountId":"A3","phone":"+919876543212","associationIds":["`+strings.Repeat("a", 101)+`"]}`,
				`{"accountId":"A4","phone":"+919876543213","associationIds":[null]}`,
			),
			wantErrs: []string{
				`line 1: associationIds: empty id`,
				`line 2: associationId "as 3": invalid character ' '; allowed are letters, digits and ":_.-"`,
				`line 3: associationId "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"…: longer than 100 characters`,
				`line 4: associationIds: empty id`,
			},
		},
		{
			name: "several problems in one row",
			in:   lines(`{"accountId":"A 1","phone":"+442079460000","status":"open","associationIds":["x y"]}`),
			wantErrs: []string{
				`line 1: accountId "A 1": invalid character ' '; allowed are letters, digits and ":_.-"`,
				`line 1: phone "+********0000": not a mobile number (fixed line)`,
				`line 1: status "open": unknown; want one of active, not_eligible, closed, closed_account_taken_over, closed_fraud`,
				`line 1: associationId "x y": invalid character ' '; allowed are letters, digits and ":_.-"`,
			},
		},
		{
			name:     "CRLF and blank lines keep line numbers",
			in:       "\ufeff\r\n" + valid("A1") + "\r\n\r\n" + `{"accountId":"A2"}` + "\r\n",
			wantErrs: []string{"line 4: phone is missing"},
		},

		// Problems across the file.
		{
			name: "duplicate accountId",
			in: lines(
				`{"accountId":"A1","phone":"+919876543210"}`,
				`{"accountId":"A2","phone":"+919876543211"}`,
				`{"accountId":"A1","phone":"+919876543212"}`,
				`{"accountId":"A1","phone":"+919876543213"}`,
			),
			wantErrs: []string{`line 3: accountId "A1" already on line 1`, `line 4: accountId "A1" already on line 1`},
		},
		{
			name: "association id on two accounts",
			in: lines(
				`{"accountId":"A1","phone":"+919876543210","associationIds":["as-1","as-2"]}`,
				`{"accountId":"A2","phone":"+919876543211","associationIds":["as-3"]}`,
				`{"accountId":"A3","phone":"+919876543212","associationIds":["as-3","as-2"]}`,
			),
			wantErrs: []string{
				`line 3: associationId "as-3" already on line 2, for accountId "A2"`,
				`line 3: associationId "as-2" already on line 1, for accountId "A1"`,
			},
		},
		{
			name: "association id repeated with its accountId",
			in: lines(
				`{"accountId":"A1","phone":"+919876543210","associationIds":["as-1"]}`,
				`{"accountId":"A1","phone":"+919876543210","associationIds":["as-1"]}`,
			),
			wantErrs: []string{`line 2: accountId "A1" already on line 1`},
		},
		{
			name: "too many errors",
			in: func() string {
				var b strings.Builder
				for i := range 30 {
					fmt.Fprintf(&b, "{\"accountId\":\"A%d\"}\n", i)
				}
				return b.String()
			}(),
			wantErrs: func() []string {
				var want []string
				for i := 1; i <= 20; i++ {
					want = append(want, fmt.Sprintf("line %d: phone is missing", i))
				}
				want = append(want, "more than 20 errors; stopped reading at line 21")
				return want
			}(),
		},
		{
			name: "line too long",
			in:   lines(valid("A1"), `{"accountId":"`+strings.Repeat("a", maxLineLen)+`"}`, valid("A3")),
			wantErrs: []string{
				"line 2: longer than 1024 KiB",
			},
		},
	}
	runParseCases(t, ParseJSONL, tests)
}
