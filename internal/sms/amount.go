package sms

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Amount is a money amount as Google states it in India Cards' authenticate:
// amountMicros and currencyCode.
type Amount struct {
	Micros   int64  // millionths of the currency's major unit; not negative
	Currency string // ISO 4217 code, three capital letters, e.g. "INR"
}

// DefaultMaxAmountDigits is the default of [TemplateSetConfig.MaxAmountDigits]:
// amounts up to 999,999,999 major units (99 crore rupees and more).
const DefaultMaxAmountDigits = 9

// maxMinorDigits is the most minor-unit digits of any currency in
// [minorDigits] (CLF and UYW have four).
const maxMinorDigits = 4

// minorDigits returns the number of digits of the minor unit of an ISO 4217
// currency: 2 unless listed here (ISO 4217 list one, 2024).
func minorDigits(currency string) int {
	switch currency {
	case "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
		"RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF":
		return 0
	case "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND":
		return 3
	case "CLF", "UYW":
		return 4
	}
	return 2
}

// validCurrency reports whether c is three capital ASCII letters.
func validCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// errAmount is wrapped by the errors of formatAmountValue.
var errAmount = errors.New("sms: amount")

// formatAmountValue returns the number of a, without its currency: the major
// units, without grouping separators (DLT "numeric" variables take digits and
// a point only), then a point and exactly as many digits as the currency's
// minor unit has, e.g. "728.00" for 728000000 INR micros, "1500" for JPY.
//
// It never rounds: an SMS that a user reads before approving a payment must
// not misstate it. An amount that is not a whole number of minor units, and
// one of more than maxDigits digits before the point, are refused instead,
// so that the lengths checked at start hold.
func formatAmountValue(a Amount, maxDigits int) (string, error) {
	if !validCurrency(a.Currency) {
		return "", fmt.Errorf("%w: currency %q is not three capital letters (ISO 4217)", errAmount, a.Currency)
	}
	if a.Micros < 0 {
		return "", fmt.Errorf("%w: negative amount", errAmount)
	}
	digits := minorDigits(a.Currency)
	unit := int64(1_000_000)
	for range digits {
		unit /= 10
	}
	if a.Micros%unit != 0 {
		return "", fmt.Errorf("%w: %d micros of %s is not a whole number of its minor unit (%d decimals); it would have to be rounded",
			errAmount, a.Micros, a.Currency, digits)
	}
	major := strconv.FormatInt(a.Micros/1_000_000, 10)
	if len(major) > maxDigits {
		return "", fmt.Errorf("%w: %d digits before the point, over the %d the templates were checked for", errAmount, len(major), maxDigits)
	}
	if digits == 0 {
		return major, nil
	}
	minor := strconv.FormatInt(a.Micros%1_000_000/unit, 10)
	return major + "." + strings.Repeat("0", digits-len(minor)) + minor, nil
}

// formatAmount returns a with its currency code first, e.g. "INR 728.00".
func formatAmount(a Amount, maxDigits int) (string, error) {
	v, err := formatAmountValue(a, maxDigits)
	if err != nil {
		return "", err
	}
	return a.Currency + " " + v, nil
}

// amountValueWidth is the longest value formatAmountValue returns for amounts
// of currency ("" for any currency) with up to maxDigits digits before the
// point.
func amountValueWidth(currency string, maxDigits int) int {
	d := maxMinorDigits
	if currency != "" {
		d = minorDigits(currency)
	}
	if d == 0 {
		return maxDigits
	}
	return maxDigits + 1 + d
}
