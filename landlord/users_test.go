package landlord_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// A deleted landlord: actions refuse them, their receipts stay until the
// retention ends and the daily purge takes them, and the purge leaves
// everyone else alone.
func TestDeleteAndPurge(t *testing.T) {
	e := newEnv(t, nil)
	ctx := t.Context()
	by := landlord.ByPlatform(7)
	e.connect(t, by, mtdconnect.PurposeIncomeTax)
	if err := e.Store.SaveSubmission(ctx, &mtdconnect.Submission{UserID: e.userID, Purpose: mtdconnect.PurposeVAT,
		Kind: mtdconnect.SubmissionVATReturn, Period: "26A1", Body: []byte("{}"), Response: []byte("{}"), SubmittedAt: e.Clock.Now()}); err != nil {
		t.Fatal(err)
	}
	other, created, err := e.svc.PutUser(ctx, by, "stays", landlord.UserChanges{})
	if err != nil || !created {
		t.Fatal(created, err)
	}

	u, err := e.svc.DeleteUser(ctx, by, e.userID)
	if err != nil {
		t.Fatal(err)
	}
	if !u.Deleted() || u.Email != "" || u.NINO != "" || !u.RecordsKeptUntil.Equal(mtdconnect.RetainUntil(e.Clock.Now()).Truncate(time.Millisecond)) {
		t.Errorf("deleted user %+v", u)
	}
	var de *landlord.DeletedError
	if _, err := e.svc.Status(ctx, e.userID, mtdconnect.PurposeIncomeTax); !errors.As(err, &de) {
		t.Errorf("Status of a deleted landlord: %v", err)
	}
	if err := e.svc.Disconnect(ctx, by, e.userID, mtdconnect.PurposeIncomeTax); !errors.As(err, &de) {
		t.Errorf("Disconnect of a deleted landlord: %v", err)
	}
	if subs, err := e.svc.Receipts(ctx, e.userID, landlord.ReceiptQuery{}); err != nil || len(subs) != 1 {
		t.Errorf("receipts of a deleted landlord: %d, %v", len(subs), err)
	}
	if evs, _ := e.Store.Audit(ctx, e.userID, 1); len(evs) != 1 || evs[0].Kind != mtdconnect.AuditUserDeleted {
		t.Errorf("last audit event %+v, want the deletion", evs)
	}

	if n, err := e.svc.PurgeDeleted(ctx); err != nil || n != 0 {
		t.Errorf("purge before the retention ended: %d, %v", n, err)
	}
	e.Clock.Advance(u.RecordsKeptUntil.Sub(e.Clock.Now()))
	if n, err := e.svc.PurgeDeleted(ctx); err != nil || n != 1 {
		t.Errorf("purge at the end of the retention: %d, %v", n, err)
	}
	if _, err := e.svc.Receipts(ctx, e.userID, landlord.ReceiptQuery{}); !errors.Is(err, landlord.ErrUnknownUser) {
		t.Errorf("receipts after the purge: %v", err)
	}
	if _, err := e.svc.User(ctx, other.ID); err != nil {
		t.Errorf("the purge took a landlord who was not deleted: %v", err)
	}
}
