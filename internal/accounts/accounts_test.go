package accounts

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/phone"
)

// parseCase is one test of a parser: either the accounts it must return, or
// the error lines it must report, in order.
type parseCase struct {
	name     string
	in       string
	want     []otp.Account
	wantErrs []string
}

// parser is ParseJSONL or ParseCSV.
type parser func(io.Reader, func(string) []byte) ([]otp.Account, error)

func runParseCases(t *testing.T, parse parser, tests []parseCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(strings.NewReader(tt.in), testHash)
			if tt.wantErrs == nil {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("accounts mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if got != nil {
				t.Errorf("returned %d accounts along with the error", len(got))
			}
			if diff := cmp.Diff(tt.wantErrs, errorLines(err)); diff != "" {
				t.Errorf("errors mismatch (-want +got):\n%s", diff)
			}
			if m := longDigits.FindString(errString(err)); m != "" {
				t.Errorf("error output contains %q, possibly a phone number", m)
			}
		})
	}
}

// longDigits finds what could be (part of) a phone number in an error.
var longDigits = regexp.MustCompile(`[0-9]{5,}`)

// errorLines returns the messages of the errors joined in err.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []string{err.Error()}
	}
	var lines []string
	for _, e := range j.Unwrap() {
		lines = append(lines, e.Error())
	}
	return lines
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestRowError(t *testing.T) {
	_, err := ParseJSONL(strings.NewReader(
		`{"accountId":"A1","phone":"+919876543210"}`+"\n"+
			`{"accountId":"A2","phone":"+442079460000"}`+"\n"), testHash)
	var re *RowError
	if !errors.As(err, &re) {
		t.Fatalf("errors.As(%v, *RowError) = false", err)
	}
	if re.Line != 2 {
		t.Errorf("RowError.Line = %d, want 2", re.Line)
	}
	// The cause stays reachable through the join, the RowError and the
	// context added to it.
	if !errors.Is(err, phone.ErrNotMobile) {
		t.Errorf("errors.Is(%v, phone.ErrNotMobile) = false", err)
	}
	if want := `line 2: phone "+********0000": not a mobile number (fixed line)`; re.Error() != want {
		t.Errorf("RowError.Error() = %q, want %q", re.Error(), want)
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	want := []otp.Account{{
		ID: "A1", Phone: "+919876543210", Status: otp.StatusActive, AssociationIDs: []string{"as-1"},
		Cards: []otp.Card{testCard(visa, 2030, 1)},
	}}
	jsonl := `{"accountId":"A1","phone":"+919876543210","associationIds":["as-1"],"cards":[{"number":"` + visa + `","expiryMonth":"01","expiryYear":"30"}]}` + "\n"
	csv := "accountId,phone,associationIds,cards\nA1,+919876543210,as-1," + visa + "/01/30\n"

	for _, path := range []string{
		write("a.jsonl", jsonl),
		write("b.JSONL", jsonl),
		write("c.csv", csv),
		write("d.Csv", csv),
	} {
		got, err := ParseFile(path, testHash)
		if err != nil {
			t.Errorf("ParseFile(%s): %v", filepath.Base(path), err)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParseFile(%s) mismatch (-want +got):\n%s", filepath.Base(path), diff)
		}
	}

	// The extension decides, not the content.
	if _, err := ParseFile(write("e.csv", jsonl), testHash); err == nil {
		t.Errorf("ParseFile(JSON lines in a .csv file) succeeded")
	}

	for _, name := range []string{"accounts.json", "accounts.txt", "accounts"} {
		_, err := ParseFile(write(name, jsonl), testHash)
		if err == nil {
			t.Errorf("ParseFile(%s) succeeded", name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, ".jsonl") || !strings.Contains(msg, ".csv") {
			t.Errorf("ParseFile(%s) error %q does not name the accepted extensions", name, msg)
		}
	}

	if _, err := ParseFile(filepath.Join(dir, "missing.csv"), testHash); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ParseFile(missing file) error = %v, want fs.ErrNotExist", err)
	}
}

func TestCheckID(t *testing.T) {
	for _, ok := range []string{"A", "acct:1_2.3-4", strings.Repeat("z", 100)} {
		if err := checkID("accountId", ok); err != nil {
			t.Errorf("checkID(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("z", 101), "a b", "a;b", "a,b", "a/b", "é", "a\n", "Ａ"} {
		if err := checkID("accountId", bad); err == nil {
			t.Errorf("checkID(%q) = nil, want an error", bad)
		}
	}
}
