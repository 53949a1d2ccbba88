// Package accounts reads the files that load the account directory: which
// phone gets the codes of which account, its status, and the association ids
// Google knows it by.
//
// Two formats carry the same six fields, accountId, phone, status,
// associationIds, cards and tokens: JSON lines ([ParseJSONL]) and CSV with a
// header row ([ParseCSV]). Both are strict, because a mistake in an import
// sends codes to the wrong phone: every row is validated, names must be spelt
// exactly, and the whole file is rejected if any row is wrong, so that a
// caller can never apply half of it. Errors name the 1-based line of the file
// and never contain a full phone number.
//
// # Cards
//
// An account may list the payment cards whose India Cards authentications
// text its phone. A card is a number of 12 to 19 digits, with an optional
// expiry: a month (1 to 12, "01" to "12" also) and a year (two digits meaning
// 20YY, or four from 2000 to 2099), both or neither.
// In JSON lines:
//
//	{"accountId":"A1","phone":"+919876543210","cards":[{"number":"4111111111111111","expiryMonth":"01","expiryYear":"30"}]}
//
// In CSV, the cards column holds the account's cards separated by ';', each
// NUMBER, NUMBER/MM/YY or NUMBER/MM/YYYY:
//
//	accountId,phone,cards
//	A1,+919876543210,4111111111111111/01/30;5555555555554444/12/2031;378282246310005
//
// The parsers never keep a card number: each is passed, once validated, to
// the caller's hashCard (a keyed hash, HMAC-SHA-256 under the deployment's
// card secret), and the returned [otp.Card] holds only that hash, the last four
// digits and the expiry. Errors name a card by its last four digits ("card
// ending 1111") or by its place in the row ("card 2"), never by its number.
// A card may appear once in a file: twice in one account, or on two accounts,
// is an error.
//
// # Tokens
//
// An account may also list network tokens of its cards (Google's
// paymentToken, whose paymentTokenAccountNumber is the token's number):
// "tokens", written and checked exactly as "cards", hashed under the same
// secret, and reported as "token 2" or "token ending 3478":
//
//	{"accountId":"A1","phone":"+919876543210","tokens":[{"number":"4895370012003478"}]}
//
//	accountId,phone,cards,tokens
//	A1,+919876543210,4111111111111111/01/30,4895370012003478;4895370012009999/06/29
//
// Tokens and cards are apart: a token number that equals a card number, on
// the same account or another, is no conflict, and it is found only as what
// it was listed as.
package accounts

import (
	"bytes"
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
	fieldCards          = "cards"
	fieldTokens         = "tokens"
)

// cardList is a list of an account that holds card numbers: its cards, or
// the network tokens of its cards. Both are read, checked, hashed and
// reported alike, and kept apart.
type cardList struct {
	field string // the JSON key and CSV column
	noun  string // what errors call one entry: "token 2", "token ending 3478"
}

var (
	cardsList  = cardList{fieldCards, "card"}
	tokensList = cardList{fieldTokens, "token"}
)

// The keys of a card object in JSON lines; the names also serve the errors
// about a card's fields in CSV.
const (
	fieldNumber      = "number"
	fieldExpiryMonth = "expiryMonth"
	fieldExpiryYear  = "expiryYear"
)

// The lengths of a card number (ISO/IEC 7812).
const (
	minCardLen = 12
	maxCardLen = 19
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
// hashCard is as for those.
func ParseFile(path string, hashCard func(number string) []byte) ([]otp.Account, error) {
	var parse func(io.Reader, func(string) []byte) ([]otp.Account, error)
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
	return parse(f, hashCard)
}

// row is one account as read from a file, before validation.
type row struct {
	line           int
	id             string
	phone          string
	status         string
	associationIDs []string
	cards          []rawCard
	tokens         []rawCard
}

// rawCard is one card as read from a file, before validation. An absent
// field (or a JSON null) is not set; an empty one is set, and wrong.
type rawCard struct {
	number, month, year          string
	hasNumber, hasMonth, hasYear bool
}

// collector validates rows, checks them against each other and gathers the
// errors. Its zero value is not ready; use newCollector.
type collector struct {
	accounts []otp.Account
	errs     []error
	full     bool // maxErrors reached: stop reading

	idLine  map[string]int      // accountId → line it was first seen on
	assocAt map[string]assocAt  // associationId → where it was first seen
	cardAt  map[cardKey]assocAt // card or token → where it was first seen

	hashCard     func(number string) []byte
	noHashFailed map[string]bool // lists whose error for a nil hashCard is given
}

type assocAt struct {
	line    int
	account string
}

// cardKey is a card or a token: the same hash in the other list is another.
type cardKey struct{ list, hash string }

func newCollector(hashCard func(number string) []byte) *collector {
	return &collector{
		idLine:       map[string]int{},
		assocAt:      map[string]assocAt{},
		cardAt:       map[cardKey]assocAt{},
		hashCard:     hashCard,
		noHashFailed: map[string]bool{},
	}
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
			check(fmt.Errorf("%s %s: unknown; want one of %s", fieldStatus, quoteMasked(r.status), statusList))
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

	var cardsOK, tokensOK bool
	a.Cards, cardsOK = c.addCards(cardsList, r.cards, r, idErr == nil, check)
	a.Tokens, tokensOK = c.addCards(tokensList, r.tokens, r, idErr == nil, check)
	ok = ok && cardsOK && tokensOK

	if ok {
		c.accounts = append(c.accounts, a)
	}
	return !c.full
}

// addCards validates raws, the list of r that is list, and returns its
// cards, reporting its problems through check. knownID tells whether r has a
// valid accountId to check the cards of other rows against. ok reports
// whether the cards are all valid.
func (c *collector) addCards(list cardList, raws []rawCard, r row, knownID bool, check func(error)) (cards []otp.Card, ok bool) {
	if len(raws) == 0 {
		return nil, true
	}
	if c.hashCard == nil {
		// Said once a list: every row with such numbers has the same
		// problem, and the file is rejected anyway.
		if !c.noHashFailed[list.field] {
			c.noHashFailed[list.field] = true
			check(fmt.Errorf("%s cannot be imported: no card secret is configured to hash them with", list.field))
		}
		return nil, false
	}
	ok = true
	seen := make(map[cardKey]bool, len(raws))
	for i, rc := range raws {
		card, errs := parseCard(list.noun, i+1, rc, c.hashCard)
		if len(errs) > 0 {
			ok = false
			for _, err := range errs {
				check(err)
			}
			continue
		}
		key := cardKey{list: list.field, hash: string(card.Hash)}
		if seen[key] {
			// Unlike an association id, a card twice is not dropped: the
			// two could disagree on the expiry, and either way the row was
			// not written with care.
			ok = false
			check(fmt.Errorf("%s ending %s given twice", list.noun, card.Last4))
			continue
		}
		seen[key] = true
		cards = append(cards, card)
		if !knownID {
			continue
		}
		// As for association ids, a card repeated under a repeated
		// accountId is reported as that.
		if at, dup := c.cardAt[key]; !dup {
			c.cardAt[key] = assocAt{line: r.line, account: r.id}
		} else if at.account != r.id {
			ok = false
			check(fmt.Errorf("%s ending %s already on line %d, for %s %s", list.noun, card.Last4, at.line, fieldAccountID, quote(at.account)))
		}
	}
	return cards, ok
}

// parseCard validates the n-th card (or token: noun says which) of a row
// and hashes its number. The number goes nowhere else: the card holds its
// hash and last four digits, and the errors name it by those digits at most.
func parseCard(noun string, n int, rc rawCard, hashCard func(string) []byte) (otp.Card, []error) {
	var errs []error
	label := fmt.Sprintf("%s %d", noun, n)
	switch num := rc.number; {
	case !rc.hasNumber || num == "":
		errs = append(errs, fmt.Errorf("%s: %s is missing", label, fieldNumber))
	case !allDigits(num):
		errs = append(errs, fmt.Errorf("%s: %s: only digits are allowed, without spaces or dashes", label, fieldNumber))
	case len(num) < minCardLen || len(num) > maxCardLen:
		errs = append(errs, fmt.Errorf("%s: %s: %d digits, want %d to %d", label, fieldNumber, len(num), minCardLen, maxCardLen))
	default:
		label = noun + " ending " + num[len(num)-4:]
	}

	var card otp.Card
	switch {
	case rc.hasMonth && rc.hasYear:
		m, err := parseMonth(rc.month)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
		y, err := parseYear(rc.year)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
		}
		card.ExpiryMonth, card.ExpiryYear = m, y
	case rc.hasMonth:
		errs = append(errs, fmt.Errorf("%s: %s without %s; give both or neither", label, fieldExpiryMonth, fieldExpiryYear))
	case rc.hasYear:
		errs = append(errs, fmt.Errorf("%s: %s without %s; give both or neither", label, fieldExpiryYear, fieldExpiryMonth))
	}

	if len(errs) > 0 {
		return otp.Card{}, errs
	}
	// Only now, with every check passed, does the number leave.
	h := hashCard(rc.number)
	if len(h) == 0 {
		return otp.Card{}, []error{fmt.Errorf("%s: the card hash is empty", label)}
	}
	card.Hash = bytes.Clone(h)
	card.Last4 = rc.number[len(rc.number)-4:]
	return card, nil
}

// parseMonth reads an expiry month: 1 to 12, with or without a leading 0.
func parseMonth(s string) (int, error) {
	if len(s) >= 1 && len(s) <= 2 && allDigits(s) {
		if m := atoi(s); m >= 1 && m <= 12 {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%s %s: want 1 to 12, or 01 to 12", fieldExpiryMonth, quoteMasked(s))
}

// parseYear reads an expiry year: two digits for 20YY, or four.
func parseYear(s string) (int, error) {
	if allDigits(s) {
		switch len(s) {
		case 2:
			return 2000 + atoi(s), nil
		case 4:
			if y := atoi(s); y >= 2000 && y <= 2099 {
				return y, nil
			}
		}
	}
	return 0, fmt.Errorf("%s %s: want two digits (20YY), or four from 2000 to 2099", fieldExpiryYear, quoteMasked(s))
}

// allDigits reports whether s is not empty and only ASCII digits.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// atoi converts a few ASCII digits, already checked.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
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

// quoteMasked is quote for a value that could hold a card number, such as a
// misplaced one: when it has more than four digits, all but the last four are
// masked.
func quoteMasked(s string) string {
	b := []byte(s)
	keep := 4
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] >= '0' && b[i] <= '9' {
			if keep > 0 {
				keep--
			} else {
				b[i] = '*'
			}
		}
	}
	return quote(string(b))
}
