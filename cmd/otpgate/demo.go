package main

import (
	"strings"

	"github.com/otpgate/otpgate/internal/otp"
)

// demoAccounts are loaded by --dev so that a newcomer can try every path.
var demoAccounts = []otp.Account{
	{ID: "demo-active", Phone: "+919876543210", Status: otp.StatusActive, AssociationIDs: []string{"as-demo-1"}},
	{ID: "demo-closed", Phone: "+919876543211", Status: otp.StatusClosed, AssociationIDs: []string{"as-demo-closed"}},
	{ID: "demo-fraud", Phone: "+919876543212", Status: otp.StatusClosedFraud, AssociationIDs: []string{"as-demo-fraud"}},
	{ID: "demo-not-eligible", Phone: "+919876543213", Status: otp.StatusNotEligible, AssociationIDs: []string{"as-demo-ne"}},
}

func demoSummary() string {
	var parts []string
	for _, a := range demoAccounts {
		parts = append(parts, a.Phone+" ("+string(a.Status)+", associationId "+a.AssociationIDs[0]+")")
	}
	return strings.Join(parts, ", ")
}
