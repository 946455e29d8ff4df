package hmrc_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/itsa"
	"github.com/mtdconnect/mtdconnect/hmrc/vat"
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
			const nino, vrn = "TC663795B", "123456789"
			e := newEnv(t)
			e.Sim.AddTestUser(hmrcsim.TestUser{UserID: simUser, Password: simPassword, NINO: nino, VRN: vrn, VATRegistrationDate: "2025-01-15"})
			e.connect(t)
			e.connectVAT(t, simUser, simPassword)
			e.Sim.SetFaults(fault.faults)
			_, err := itsa.New(e.client, nil).Obligations(t.Context(), e.userID, nino, 2025, webOrigin())
			if !errors.Is(err, hmrc.ErrUnavailable) {
				t.Fatalf("obligations: %v, want ErrUnavailable", err)
			}
			if msg := err.Error(); strings.Contains(msg, nino) || !strings.Contains(msg, "/individuals/business/details/{id}/list") {
				t.Errorf("Income Tax error %q: want the call's path without the NINO %s", msg, nino)
			}

			_, err = vat.New(e.client).Obligations(t.Context(), e.userID, vrn, time.Time{}, time.Time{}, vat.StatusOpen, webOrigin())
			if !errors.Is(err, hmrc.ErrUnavailable) {
				t.Fatalf("VAT obligations: %v, want ErrUnavailable", err)
			}
			if msg := err.Error(); strings.Contains(msg, vrn) || !strings.Contains(msg, "/organisations/vat/{id}/obligations") {
				t.Errorf("VAT error %q: want the call's path without the VRN %s", msg, vrn)
			}
		})
	}
}
