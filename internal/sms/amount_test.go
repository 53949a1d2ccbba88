package sms

import (
	"errors"
	"strings"
	"testing"
)

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		name      string
		amount    Amount
		maxDigits int
		want      string // of formatAmount; "" means an error
		wantErr   string
	}{
		{name: "rupees", amount: Amount{728_000_000, "INR"}, want: "INR 728.00"},
		{name: "paise", amount: Amount{728_050_000, "INR"}, want: "INR 728.05"},
		{name: "zero", amount: Amount{0, "INR"}, want: "INR 0.00"},
		{name: "less than a rupee", amount: Amount{500_000, "INR"}, want: "INR 0.50"},
		{name: "no grouping", amount: Amount{1_234_567_000_000, "INR"}, want: "INR 1234567.00"},
		{name: "yen have no decimals", amount: Amount{1_500_000_000, "JPY"}, want: "JPY 1500"},
		{name: "dinars have three", amount: Amount{1_234_000, "KWD"}, want: "KWD 1.234"},
		{name: "CLF has four", amount: Amount{1_234_500, "CLF"}, want: "CLF 1.2345"},
		{name: "an unlisted currency has two", amount: Amount{12_340_000, "XYZ"}, want: "XYZ 12.34"},
		{name: "widest with 9 digits", amount: Amount{999_999_999_990_000, "INR"}, want: "INR 999999999.99"},
		{name: "one digit too many", amount: Amount{1_000_000_000_000_000, "INR"}, wantErr: "10 digits before the point, over the 9"},
		{name: "more digits when allowed", amount: Amount{1_000_000_000_000_000, "INR"}, maxDigits: 10, want: "INR 1000000000.00"},
		{name: "a fraction of a paisa is not rounded", amount: Amount{728_001_000, "INR"}, wantErr: "not a whole number of its minor unit (2 decimals)"},
		{name: "a fraction of a yen", amount: Amount{1_500_500_000, "JPY"}, wantErr: "(0 decimals)"},
		{name: "negative", amount: Amount{-1_000_000, "INR"}, wantErr: "negative"},
		{name: "lower-case currency", amount: Amount{1_000_000, "inr"}, wantErr: "three capital letters"},
		{name: "no currency", amount: Amount{1_000_000, ""}, wantErr: "three capital letters"},
		{name: "symbol for a currency", amount: Amount{1_000_000, "₹"}, wantErr: "three capital letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxDigits := tt.maxDigits
			if maxDigits == 0 {
				maxDigits = DefaultMaxAmountDigits
			}
			got, err := formatAmount(tt.amount, maxDigits)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, errAmount) {
					t.Fatalf("formatAmount() = %q, %v; want an errAmount containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("formatAmount() = %q, %v; want %q", got, err, tt.want)
			}
			// The width checked at start bounds every amount, of its own
			// currency and of any.
			value := strings.TrimPrefix(got, tt.amount.Currency+" ")
			if w := amountValueWidth(tt.amount.Currency, maxDigits); len(value) > w {
				t.Errorf("%q is longer than the width %d for %s", value, w, tt.amount.Currency)
			}
			if w := amountValueWidth("", maxDigits); len(value) > w {
				t.Errorf("%q is longer than the width %d for any currency", value, w)
			}
		})
	}
}

func TestAmountValueWidth(t *testing.T) {
	for _, tt := range []struct {
		currency  string
		maxDigits int
		want      int
	}{
		{"INR", 9, 12}, // 999999999.99
		{"JPY", 9, 9},
		{"KWD", 9, 13},
		{"", 9, 14}, // any currency: CLF's four decimals
		{"INR", 13, 16},
	} {
		if got := amountValueWidth(tt.currency, tt.maxDigits); got != tt.want {
			t.Errorf("amountValueWidth(%q, %d) = %d, want %d", tt.currency, tt.maxDigits, got, tt.want)
		}
	}
}
