package otp

// AccountStatus is the state of an account in the integrator's directory.
type AccountStatus string

// The account statuses of the directory. Only active accounts can receive codes;
// the closed ones map to Google's ACCOUNT_CLOSED* results when the account was
// identified by associationId.
const (
	StatusActive                 AccountStatus = "active"
	StatusNotEligible            AccountStatus = "not_eligible"
	StatusClosed                 AccountStatus = "closed"
	StatusClosedAccountTakenOver AccountStatus = "closed_account_taken_over"
	StatusClosedFraud            AccountStatus = "closed_fraud"
)

// Valid reports whether s is one of the known statuses.
func (s AccountStatus) Valid() bool {
	switch s {
	case StatusActive, StatusNotEligible, StatusClosed, StatusClosedAccountTakenOver, StatusClosedFraud:
		return true
	}
	return false
}

// Closed reports whether s is one of the closed statuses.
func (s AccountStatus) Closed() bool {
	return s == StatusClosed || s == StatusClosedAccountTakenOver || s == StatusClosedFraud
}

// Account is one entry of the directory: who gets the codes for an account.
type Account struct {
	ID             string
	Phone          string // E.164, a mobile number
	Status         AccountStatus
	AssociationIDs []string
	Cards          []Card
	// Tokens are network tokens of the account's cards (Google's
	// paymentToken), looked up apart from Cards: a token number that equals
	// some card number is still only a token.
	Tokens []Card
}

// Card is a payment card of an account, or a network token of one, for
// India Cards authentication. Its number is never stored: Hash is
// HMAC-SHA-256 of the number under the deployment's card secret SecretID.
type Card struct {
	Hash        []byte
	SecretID    string // the card secret Hash is keyed with; "" when not known
	Last4       string // of the number hashed: the token's own for a token
	ExpiryYear  int    // four digits; 0 when unknown
	ExpiryMonth int    // 1–12; 0 when unknown
}
