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

// assocSep separates the association ids within their CSV cell, and
// cardSep the cards (or tokens) within theirs.
const (
	assocSep = ";"
	cardSep  = ";"
)

// expirySep separates a card number from its expiry month and year:
// NUMBER/MM/YY.
const expirySep = "/"

// ParseCSV reads accounts as CSV (RFC 4180) with a header row naming the
// columns, in any order:
//
//	accountId,phone,status,associationIds,cards,tokens
//	A1,+919876543210,active,as-1;as-2,4111111111111111/01/30;378282246310005,4895370012003478
//
// The accountId and phone columns are required; status, associationIds,
// cards and tokens may be left out. A header naming any other column, or a
// column twice, is an error. An empty status cell means "active"; the
// association ids share one cell, separated by ';', and an empty cell means
// none. Cells are taken as they are, spaces included.
//
// The cards share one cell too, separated by ';', each written NUMBER,
// NUMBER/MM/YY or NUMBER/MM/YYYY: 12 to 19 digits, then optionally the
// expiry month (1 to 12, or 01 to 12) and year (YY for 20YY, or YYYY), so
// that the cell
//
//	4111111111111111/01/30;5555555555554444/12/2031;378282246310005
//
// holds three cards, the last with an unknown expiry. An empty cell means no
// cards. The tokens cell (network tokens of cards: each number is Google's
// paymentTokenAccountNumber) is written exactly as the cards cell. Each
// number is given to hashCard once validated, as for [ParseJSONL].
//
// Blank lines, a UTF-8 byte order mark at the start, CRLF line endings and
// quoted fields (also spanning lines) are accepted; line numbers in errors
// are those of the file, where a row starts.
//
// Either every account of the file is returned, or none and an error joining
// a [*RowError] per problem found; after 20 of them, a last error says that
// reading stopped there.
func ParseCSV(r io.Reader, hashCard func(number string) []byte) ([]otp.Account, error) {
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

	c := newCollector(hashCard)
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
		if cell := cols.get(rec, fieldCards); cell != "" {
			rw.cards = splitCards(cell)
		}
		if cell := cols.get(rec, fieldTokens); cell != "" {
			rw.tokens = splitCards(cell)
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
		case fieldAccountID, fieldPhone, fieldStatus, fieldAssociationIDs, fieldCards, fieldTokens:
		default:
			return nil, fmt.Errorf("header: unknown column %s; want %s", quoteMasked(name), fieldList)
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

// splitCards splits a cards (or tokens) cell into its cards. A card of the
// wrong shape (an empty one, or NUMBER/MM) keeps what it has, for parseCard
// to name the problem without quoting the card.
func splitCards(cell string) []rawCard {
	items := strings.Split(cell, cardSep)
	cards := make([]rawCard, 0, len(items))
	for _, item := range items {
		parts := strings.Split(item, expirySep)
		c := rawCard{number: parts[0], hasNumber: true}
		switch len(parts) {
		case 1:
		case 2:
			c.month, c.hasMonth = parts[1], true
		default:
			c.month, c.hasMonth = parts[1], true
			c.year, c.hasYear = strings.Join(parts[2:], expirySep), true
		}
		cards = append(cards, c)
	}
	return cards
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
