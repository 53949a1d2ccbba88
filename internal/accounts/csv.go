package accounts

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/otpgate/otpgate/internal/otp"
)

// assocSep separates the association ids within their CSV cell.
const assocSep = ";"

// ParseCSV reads accounts as CSV (RFC 4180) with a header row naming the
// columns, in any order:
//
//	accountId,phone,status,associationIds
//	A1,+919876543210,active,as-1;as-2
//
// The accountId and phone columns are required; status and associationIds
// may be left out. A header naming any other column, or a column twice, is an
// error. An empty status cell means "active"; the association ids share one
// cell, separated by ';', and an empty cell means none. Cells are taken as
// they are, spaces included.
//
// Blank lines, a UTF-8 byte order mark at the start, CRLF line endings and
// quoted fields (also spanning lines) are accepted; line numbers in errors
// are those of the file, where a row starts.
//
// Either every account of the file is returned, or none and an error joining
// a [*RowError] per problem found; after 20 of them, a last error says that
// reading stopped there.
func ParseCSV(r io.Reader) ([]otp.Account, error) {
	br := bufio.NewReader(r)
	// encoding/csv would read a BOM as part of the first column's name.
	if b, err := br.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		_, _ = br.Discard(len(bom))
	}
	cr := csv.NewReader(br)

	header, err := cr.Read()
	if err == io.EOF {
		return nil, &RowError{Line: 1, Err: errors.New("empty file: want a header row naming the columns")}
	}
	if err != nil {
		return nil, csvError(err)
	}
	headerLine, _ := cr.FieldPos(0)
	cols, err := columns(header)
	if err != nil {
		return nil, &RowError{Line: headerLine, Err: err}
	}

	c := newCollector()
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("accounts: read: %w", err)
			}
			// The reader goes on with the next record after a parse error.
			if !c.fail(pe.StartLine, csvParseError(pe)) {
				break
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		rw := row{
			line:   line,
			id:     cols.get(rec, fieldAccountID),
			phone:  cols.get(rec, fieldPhone),
			status: cols.get(rec, fieldStatus),
		}
		if cell := cols.get(rec, fieldAssociationIDs); cell != "" {
			rw.associationIDs = strings.Split(cell, assocSep)
		}
		if !c.add(rw) {
			break
		}
	}
	return c.result()
}

// columnIndex maps a field name to its column, or is absent for a column the
// file leaves out.
type columnIndex map[string]int

// get returns the cell of field in rec, or "" when the column is absent.
func (ci columnIndex) get(rec []string, field string) string {
	if i, ok := ci[field]; ok {
		return rec[i]
	}
	return ""
}

// columns reads the header row.
func columns(header []string) (columnIndex, error) {
	ci := make(columnIndex, len(header))
	for i, name := range header {
		switch name {
		case fieldAccountID, fieldPhone, fieldStatus, fieldAssociationIDs:
		default:
			return nil, fmt.Errorf("header: unknown column %s; want %s", quote(name), fieldList)
		}
		if _, dup := ci[name]; dup {
			return nil, fmt.Errorf("header: column %s given twice", name)
		}
		ci[name] = i
	}
	for _, name := range []string{fieldAccountID, fieldPhone} {
		if _, ok := ci[name]; !ok {
			return nil, fmt.Errorf("header: missing column %s", name)
		}
	}
	return ci, nil
}

// csvError turns an error of reading the header into the one to return.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &RowError{Line: pe.StartLine, Err: csvParseError(pe)}
	}
	return fmt.Errorf("accounts: read: %w", err)
}

// csvParseError describes a malformed record without csv.ParseError's own
// line number, which RowError already carries.
func csvParseError(pe *csv.ParseError) error {
	if errors.Is(pe.Err, csv.ErrFieldCount) {
		return errors.New("invalid CSV: not as many fields as the header has columns")
	}
	if pe.Line != pe.StartLine {
		return fmt.Errorf("invalid CSV: line %d, column %d: %w", pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("invalid CSV: column %d: %w", pe.Column, pe.Err)
}
