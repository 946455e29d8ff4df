package hmrc_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrcsim"
)

// TestFailedCallErrorsNameNoIdentifier: HMRC's paths carry the landlord's
// NINO or VRN, and the error of a failed call ends up in the service's log.
// Whether HMRC answered 500 or the connection broke (a transport error names
// the whole URL), the error says which call failed without the identifier.
func TestFailedCallErrorsNameNoIdentifier(t *testing.T) {
	for _, fault := range []struct {
		name   string
		faults hmrcsim.Faults
	}{
		{"500", hmrcsim.Faults{ErrorRate: 1}},
		{"connection reset", hmrcsim.Faults{ResetRate: 1}},
	} {
		t.Run(fault.name, func(t *testing.T) {
			itsa, _ := newITSAEnv(t)
			itsa.Sim.SetFaults(fault.faults)
			_, err := itsa.client.Obligations(t.Context(), itsa.userID, itsaNINO, 2025, signedInOrigin())
			if !errors.Is(err, hmrc.ErrUnavailable) {
				t.Fatalf("obligations: %v, want ErrUnavailable", err)
			}
			if msg := err.Error(); strings.Contains(msg, itsaNINO) || !strings.Contains(msg, "/individuals/business/details/{id}/list") {
				t.Errorf("Income Tax error %q: want the call's path without the NINO %s", msg, itsaNINO)
			}

			vat := vatEnv(t)
			vat.Sim.SetFaults(fault.faults)
			_, err = vat.client.VATObligations(t.Context(), vat.userID, testVRN, time.Time{}, time.Time{}, hmrc.VATStatusOpen, webOrigin())
			if !errors.Is(err, hmrc.ErrUnavailable) {
				t.Fatalf("VAT obligations: %v, want ErrUnavailable", err)
			}
			if msg := err.Error(); strings.Contains(msg, testVRN) || !strings.Contains(msg, "/organisations/vat/{id}/obligations") {
				t.Errorf("VAT error %q: want the call's path without the VRN %s", msg, testVRN)
			}
		})
	}
}
