package accounts

import (
	"fmt"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/otp"
)

func TestParseCSV(t *testing.T) {
	good := []otp.Account{
		{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive, AssociationIDs: []string{"as-1", "as-2"}},
		{ID: "A2", Phone: "+14035551111", Status: otp.StatusClosedFraud},
		{ID: "acct:3_x.y-z", Phone: "+447400123456", Status: otp.StatusActive},
	}
	goodLines := []string{
		"accountId,phone,status,associationIds",
		"A1,+919876543210,active,as-1;as-2",
		"A2,+14035551111,closed_fraud,",
		"acct:3_x.y-z,+447400123456,,",
	}
	header := goodLines[0]

	tests := []parseCase{
		{name: "good", in: lines(goodLines...), want: good},
		{name: "no final newline", in: strings.Join(goodLines, "\n"), want: good},
		{name: "CRLF", in: strings.Join(goodLines, "\r\n") + "\r\n", want: good},
		{name: "BOM", in: "\ufeff" + lines(goodLines...), want: good},
		{name: "BOM and CRLF", in: "\ufeff" + strings.Join(goodLines, "\r\n") + "\r\n", want: good},
		{
			name: "blank lines",
			in:   "\n\r\n" + goodLines[0] + "\n\n" + goodLines[1] + "\r\n\r\n" + strings.Join(goodLines[2:], "\n") + "\n\n",
			want: good,
		},
		{
			name: "quoted fields",
			in: lines(
				`"accountId","phone","status","associationIds"`,
				`"A1","+919876543210","active","as-1;as-2"`,
				`A2,"+14035551111",closed_fraud,""`,
				`"acct:3_x.y-z",+447400123456,"",`,
			),
			want: good,
		},
		{
			name: "columns in another order",
			in: lines(
				"associationIds,status,phone,accountId",
				"as-1;as-2,active,+919876543210,A1",
				",closed_fraud,+14035551111,A2",
				",,+447400123456,acct:3_x.y-z",
			),
			want: good,
		},
		{
			name: "required columns only",
			in:   lines("phone,accountId", "+919876543210,A1", "+14035551111,A2"),
			want: []otp.Account{
				{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive},
				{ID: "A2", Phone: "+14035551111", Status: otp.StatusActive},
			},
		},
		{name: "header only", in: lines(header), want: nil},
		{
			name: "association ids deduplicated within a row",
			in:   lines(header, "A1,+919876543210,,as-2;as-1;as-2"),
			want: []otp.Account{{ID: "A1", Phone: "+919876543210", Status: otp.StatusActive, AssociationIDs: []string{"as-2", "as-1"}}},
		},

		// Header problems stop the parse.
		{name: "empty file", in: "", wantErrs: []string{"line 1: empty file: want a header row naming the columns"}},
		{name: "BOM only", in: "\ufeff", wantErrs: []string{"line 1: empty file: want a header row naming the columns"}},
		{
			name:     "unknown column",
			in:       lines("accountId,phone,stauts", "A1,+919876543210,active"),
			wantErrs: []string{`line 1: header: unknown column "stauts"; want accountId, phone, status, associationIds, cards, tokens`},
		},
		{
			name:     "column name in the wrong case",
			in:       lines("accountID,phone", "A1,+919876543210"),
			wantErrs: []string{`line 1: header: unknown column "accountID"; want accountId, phone, status, associationIds, cards, tokens`},
		},
		{
			name:     "column name with a space",
			in:       lines("accountId, phone", "A1,+919876543210"),
			wantErrs: []string{`line 1: header: unknown column " phone"; want accountId, phone, status, associationIds, cards, tokens`},
		},
		{
			name:     "column twice",
			in:       lines("accountId,phone,phone", "A1,+919876543210,+919876543211"),
			wantErrs: []string{"line 1: header: column phone given twice"},
		},
		{
			name:     "missing phone column",
			in:       lines("accountId,status", "A1,active"),
			wantErrs: []string{"line 1: header: missing column phone"},
		},
		{
			name:     "missing accountId column",
			in:       lines("phone", "+919876543210"),
			wantErrs: []string{"line 1: header: missing column accountId"},
		},
		{
			name:     "no header: data in the first line",
			in:       lines("A1,+919876543210,active,as-1"),
			wantErrs: []string{`line 1: header: unknown column "A1"; want accountId, phone, status, associationIds, cards, tokens`},
		},
		{
			name:     "header after blank lines",
			in:       "\n\n" + lines("accountId,phone,state"),
			wantErrs: []string{`line 3: header: unknown column "state"; want accountId, phone, status, associationIds, cards, tokens`},
		},

		// CSV syntax.
		{
			name: "wrong number of fields",
			in:   lines(header, "A1,+919876543210,active", "A2,+919876543211,active,,", "A3,+919876543212,active,as-3"),
			wantErrs: []string{
				"line 2: invalid CSV: not as many fields as the header has columns",
				"line 3: invalid CSV: not as many fields as the header has columns",
			},
		},
		{
			name:     "bare quote",
			in:       lines(header, `A1,+91987"6543210,active,`, "A2,+919876543211,active,"),
			wantErrs: []string{`line 2: invalid CSV: column 10: bare " in non-quoted-field`},
		},
		{
			name:     "unterminated quote",
			in:       lines(header, "A1,+919876543210,active,", `A2,"+919876543211,active,`, "A3,+919876543212,active,"),
			wantErrs: []string{`line 3: invalid CSV: line 4, column 26: extraneous or missing " in quoted-field`},
		},
		{
			// A quoted cell may span lines: errors name the line its row
			// starts on, and later rows keep the file's numbering.
			name: "quoted field over two lines",
			in:   lines(header, "A1,+919876543210,active,\"as-1\nas-2\"", "A2,+919876543211,activ,"),
			wantErrs: []string{
				`line 2: associationId "as-1\nas-2": invalid character '\n'; allowed are letters, digits and ":_.-"`,
				`line 4: status "activ": unknown; want one of active, not_eligible, closed, closed_account_taken_over, closed_fraud`,
			},
		},

		// Field problems.
		{
			name:     "missing accountId and phone",
			in:       lines(header, ",+919876543210,,", "A2,,,"),
			wantErrs: []string{"line 2: accountId is missing", "line 3: phone is missing"},
		},
		{
			name: "bad accountId",
			in:   lines(header, `"A 1",+919876543210,,`, `"A,1",+919876543211,,`, "A;1,+919876543212,,"),
			wantErrs: []string{
				`line 2: accountId "A 1": invalid character ' '; allowed are letters, digits and ":_.-"`,
				`line 3: accountId "A,1": invalid character ','; allowed are letters, digits and ":_.-"`,
				`line 4: accountId "A;1": invalid character ';'; allowed are letters, digits and ":_.-"`,
			},
		},
		{
			name: "bad phone",
			in: lines(header,
				"A1,919876543210,,",
				`A2,"+91 98765 43210",,`,
				"A3,+447700900123,,",
				"A4,+442079460000,,",
				"A5, +919876543210,,",
			),
			wantErrs: []string{
				`line 2: phone "********3210": not in E.164 format: must start with '+'`,
				`line 3: phone "+**********3210": not in E.164 format: only digits may follow '+'`,
				`line 4: phone "+********0123": not a valid phone number`,
				`line 5: phone "+********0000": not a mobile number (fixed line)`,
				`line 6: phone "**********3210": not in E.164 format: must start with '+'`,
			},
		},
		{
			name:     "bad status",
			in:       lines(header, "A1,+919876543210,ACTIVE,", "A2,+919876543211, active,"),
			wantErrs: []string{`line 2: status "ACTIVE": unknown; want one of active, not_eligible, closed, closed_account_taken_over, closed_fraud`, `line 3: status " active": unknown; want one of active, not_eligible, closed, closed_account_taken_over, closed_fraud`},
		},
		{
			name: "bad association ids",
			in: lines(header,
				"A1,+919876543210,,as-1;;as-2",
				"A2,+919876543211,,as-3;",
				"A3,+919876543212,,as-4; as-5",
				`A4,+919876543213,,"as-6,as-7"`,
			),
			wantErrs: []string{
				"line 2: associationIds: empty id",
				"line 3: associationIds: empty id",
				`line 4: associationId " as-5": invalid character ' '; allowed are letters, digits and ":_.-"`,
				`line 5: associationId "as-6,as-7": invalid character ','; allowed are letters, digits and ":_.-"`,
			},
		},

		// Problems across the file.
		{
			name:     "duplicate accountId",
			in:       lines(header, "A1,+919876543210,,", "A2,+919876543211,,", "A1,+919876543212,,"),
			wantErrs: []string{`line 4: accountId "A1" already on line 2`},
		},
		{
			name:     "association id on two accounts",
			in:       lines(header, "A1,+919876543210,,as-1;as-2", "A2,+919876543211,,as-3", "A3,+919876543212,,as-2"),
			wantErrs: []string{`line 4: associationId "as-2" already on line 2, for accountId "A1"`},
		},
		{
			name: "too many errors",
			in: func() string {
				var b strings.Builder
				b.WriteString(header + "\n")
				for i := range 30 {
					fmt.Fprintf(&b, "A%d,,,\n", i)
				}
				return b.String()
			}(),
			wantErrs: func() []string {
				var want []string
				for line := 2; line <= 21; line++ {
					want = append(want, fmt.Sprintf("line %d: phone is missing", line))
				}
				return append(want, "more than 20 errors; stopped reading at line 22")
			}(),
		},
	}
	runParseCases(t, ParseCSV, tests)
}
