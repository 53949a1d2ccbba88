// Package accounts reads the files that load the account directory: which
// phone gets the codes of which account, its status, and the association ids
// Google knows it by.
//
// Two formats carry the same four fields, accountId, phone, status and
// associationIds: JSON lines ([ParseJSONL]) and CSV with a header row
// ([ParseCSV]). Both are strict, because a mistake in an import sends codes to
// the wrong phone: every row is validated, names must be spelt exactly, and
// the whole file is rejected if any row is wrong, so that a caller can never
// apply half of it. Errors name the 1-based line of the file and never
// contain a full phone number.
package accounts

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/otpgate/otpgate/internal/otp"
	"github.com/otpgate/otpgate/internal/phone"
)

// maxErrors bounds the errors of one parse: enough to fix a file in a few
// rounds, not so many that a file in the wrong format buries the first one.
const maxErrors = 20

// maxIDLen is the longest accountId or associationId accepted.
const maxIDLen = 100

// Field names, shared by the JSON keys and the CSV header.
const (
	fieldAccountID      = "accountId"
	fieldPhone          = "phone"
	fieldStatus         = "status"
	fieldAssociationIDs = "associationIds"
)

// RowError is a problem with one line of an import file.
type RowError struct {
	Line int // 1-based line of the file
	Err  error
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

func (e *RowError) Unwrap() error { return e.Err }

// ParseFile reads an import file, choosing the format by the file's
// extension: .jsonl for [ParseJSONL], .csv for [ParseCSV] (in any case).
func ParseFile(path string) ([]otp.Account, error) {
	var parse func(io.Reader) ([]otp.Account, error)
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".jsonl":
		parse = ParseJSONL
	case ".csv":
		parse = ParseCSV
	default:
		return nil, fmt.Errorf("accounts: %s: unsupported file extension %q: want .jsonl (JSON lines) or .csv", path, ext)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	defer f.Close()
	return parse(f)
}

// row is one account as read from a file, before validation.
type row struct {
	line           int
	id             string
	phone          string
	status         string
	associationIDs []string
}

// collector validates rows, checks them against each other and gathers the
// errors. Its zero value is not ready; use newCollector.
type collector struct {
	accounts []otp.Account
	errs     []error
	full     bool // maxErrors reached: stop reading

	idLine  map[string]int     // accountId → line it was first seen on
	assocAt map[string]assocAt // associationId → where it was first seen
}

type assocAt struct {
	line    int
	account string
}

func newCollector() *collector {
	return &collector{idLine: map[string]int{}, assocAt: map[string]assocAt{}}
}

// fail records an error on a line. It reports whether reading should go on.
func (c *collector) fail(line int, err error) bool {
	if c.full {
		return false
	}
	if len(c.errs) == maxErrors {
		c.errs = append(c.errs, fmt.Errorf("more than %d errors; stopped reading at line %d", maxErrors, line))
		c.full = true
		return false
	}
	c.errs = append(c.errs, &RowError{Line: line, Err: err})
	return true
}

// add validates r and records it. It reports whether reading should go on.
func (c *collector) add(r row) bool {
	a := otp.Account{Status: otp.StatusActive}
	ok := true
	check := func(err error) {
		if err != nil {
			ok = false
			c.fail(r.line, err)
		}
	}

	idErr := checkID(fieldAccountID, r.id)
	check(idErr)
	if idErr == nil {
		a.ID = r.id
		if first, dup := c.idLine[r.id]; dup {
			check(fmt.Errorf("%s %s already on line %d", fieldAccountID, quote(r.id), first))
		} else {
			c.idLine[r.id] = r.line
		}
	}

	if r.phone == "" {
		check(fmt.Errorf("%s is missing", fieldPhone))
	} else if p, err := phone.Parse(r.phone); err != nil {
		check(fmt.Errorf("%s %q: %w", fieldPhone, phone.Mask(r.phone), err))
	} else {
		a.Phone = p
	}

	// An empty status means the default, so that a CSV file can leave the
	// cell empty and a JSON line can leave the key out.
	if r.status != "" {
		a.Status = otp.AccountStatus(r.status)
		if !a.Status.Valid() {
			check(fmt.Errorf("%s %s: unknown; want one of %s", fieldStatus, quote(r.status), statusList))
		}
	}

	seen := make(map[string]bool, len(r.associationIDs))
	for _, as := range r.associationIDs {
		if as == "" {
			check(fmt.Errorf("%s: empty id", fieldAssociationIDs))
			continue
		}
		if err := checkID("associationId", as); err != nil {
			check(err)
			continue
		}
		// A repeat within the row means the same thing twice; drop it
		// rather than fail, as the store would otherwise see a duplicate.
		if seen[as] {
			continue
		}
		seen[as] = true
		a.AssociationIDs = append(a.AssociationIDs, as)
		// Without a valid accountId there is no telling whose it is.
		if idErr != nil {
			continue
		}
		// Only an association shared with another account is an error here:
		// one repeated under a repeated accountId is reported as that.
		if at, dup := c.assocAt[as]; !dup {
			c.assocAt[as] = assocAt{line: r.line, account: r.id}
		} else if at.account != r.id {
			check(fmt.Errorf("associationId %s already on line %d, for %s %s", quote(as), at.line, fieldAccountID, quote(at.account)))
		}
	}

	if ok {
		c.accounts = append(c.accounts, a)
	}
	return !c.full
}

// result is what the parse returns: all the accounts, or none and every
// error found.
func (c *collector) result() ([]otp.Account, error) {
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	return c.accounts, nil
}

var statusList = strings.Join([]string{
	string(otp.StatusActive),
	string(otp.StatusNotEligible),
	string(otp.StatusClosed),
	string(otp.StatusClosedAccountTakenOver),
	string(otp.StatusClosedFraud),
}, ", ")

// checkID checks an accountId or associationId: 1 to 100 characters of
// [A-Za-z0-9:_.-]. The set is narrow on purpose: ids are compared byte for
// byte with what Google sends, so whitespace, look-alike Unicode and
// separators (';' is the CSV list separator) could only be mistakes.
func checkID(field, s string) error {
	if s == "" {
		return fmt.Errorf("%s is missing", field)
	}
	if len(s) > maxIDLen {
		return fmt.Errorf("%s %s: longer than %d characters", field, quote(s), maxIDLen)
	}
	for _, r := range s {
		if !idChar(r) {
			return fmt.Errorf("%s %s: invalid character %q; allowed are letters, digits and \":_.-\"", field, quote(s), r)
		}
	}
	return nil
}

func idChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return r == ':' || r == '_' || r == '.' || r == '-'
}

// quote quotes a value from the file for an error message, shortened so that
// a wrong column (or a whole line pasted into one) cannot flood the output.
func quote(s string) string {
	const limit = 40
	if r := []rune(s); len(r) > limit {
		return fmt.Sprintf("%q…", string(r[:limit]))
	}
	return fmt.Sprintf("%q", s)
}
