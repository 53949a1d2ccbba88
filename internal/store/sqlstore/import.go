package sqlstore

import (
	"fmt"

	"github.com/otpgate/otpgate/internal/otp"
)

// The statements of ImportAccounts, which both engines run in one
// transaction: first every account is upserted and loses its links
// (association ids, cards, tokens), then the links are inserted. A link
// that exists already, for an account outside the import or for an
// earlier account of it, fails the import.

// CardTable is a table of cards or of tokens, which have the same shape, and
// what its errors call one row.
type CardTable struct{ Name, Noun string }

// The tables of cards and of tokens.
var (
	Cards  = CardTable{"cards", "card"}
	Tokens = CardTable{"tokens", "token"}
)

// ImportLink is an association id, a card or a token that an import inserts
// for an account.
type ImportLink struct {
	Account     string
	Association string    // an association id, or
	Card        *otp.Card // a card or a token, to insert into Table
	Table       CardTable
}

// ImportLinks are the links of accounts in the order both engines insert
// them, so that both report the same conflict: each account's association
// ids, cards and tokens, account by account.
func ImportLinks(accounts []otp.Account) []ImportLink {
	var links []ImportLink
	for _, a := range accounts {
		for _, as := range a.AssociationIDs {
			links = append(links, ImportLink{Account: a.ID, Association: as})
		}
		for i := range a.Cards {
			links = append(links, ImportLink{Account: a.ID, Card: &a.Cards[i], Table: Cards})
		}
		for i := range a.Tokens {
			links = append(links, ImportLink{Account: a.ID, Card: &a.Tokens[i], Table: Tokens})
		}
	}
	return links
}

// UpsertAccount inserts the account or updates its phone and status.
func (d Dialect) UpsertAccount(a otp.Account, now int64) (string, []any) {
	return d.Rebind(`INSERT INTO accounts (id, phone, status, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET phone = excluded.phone, status = excluded.status, updated_at = excluded.updated_at`),
		[]any{a.ID, a.Phone, string(a.Status), now}
}

// DeleteLinks are the statements that remove an account's links; each
// takes the account's id.
func (d Dialect) DeleteLinks() []string {
	var qs []string
	for _, table := range []string{"associations", Cards.Name, Tokens.Name} {
		qs = append(qs, d.Rebind(`DELETE FROM `+table+` WHERE account_id = ?`))
	}
	return qs
}

// Insert inserts the link, or changes no row where it exists already (also
// one that another transaction is inserting: that one is waited for).
func (d Dialect) Insert(l ImportLink) (string, []any) {
	if l.Card == nil {
		return d.Rebind(`INSERT INTO associations (id, account_id) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`),
			[]any{l.Association, l.Account}
	}
	c := l.Card
	return d.Rebind(`INSERT INTO ` + l.Table.Name + ` (hash, secret_id, account_id, last4, expiry_year, expiry_month)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING`),
		[]any{Bytes(c.Hash), c.SecretID, l.Account, c.Last4, c.ExpiryYear, c.ExpiryMonth}
}

// Owner finds the account that holds the link.
func (d Dialect) Owner(l ImportLink) (string, []any) {
	if l.Card == nil {
		return d.Rebind(`SELECT account_id FROM associations WHERE id = ?`), []any{l.Association}
	}
	return d.Rebind(`SELECT account_id FROM ` + l.Table.Name + ` WHERE hash = ?`), []any{Bytes(l.Card.Hash)}
}

// Conflict is the error of a link that owner holds already; a card or a
// token is named by its last four digits only.
func (l ImportLink) Conflict(engine, owner string) error {
	if l.Card == nil {
		return fmt.Errorf("%s: import account %s: associationId %q already belongs to account %s", engine, l.Account, l.Association, owner)
	}
	return fmt.Errorf("%s: import account %s: the %s ending %s already belongs to account %s", engine, l.Account, l.Table.Noun, l.Card.Last4, owner)
}
