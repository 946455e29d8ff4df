package landlord

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/hmrc"
	"github.com/mtdconnect/mtdconnect/hmrc/fraud"
	"github.com/mtdconnect/mtdconnect/hmrc/proxy"
)

// ProxyRequest is a platform's call of an MTD API, to pass on to HMRC for
// a landlord (see package hmrc/proxy).
type ProxyRequest struct {
	UserID int64
	Method string
	// Path is below HMRC's API host, as the platform sent it (escaped),
	// e.g. /individuals/business/details/AA123456A/list; RawQuery is its
	// query, without the ?.
	Path, RawQuery      string
	Accept, ContentType string
	Body                []byte
	Origin              *fraud.Origin
	TestScenario        string // HMRC's sandbox Gov-Test-Scenario; "" for none
}

// Proxy passes the call on to HMRC with the landlord's token for the
// purpose the path's API belongs to (Income Tax or VAT) and returns HMRC's
// answer as it is, whatever its status. Nothing is sent when the method or
// the path is refused (proxy.ErrMethod, *proxy.PathError,
// proxy.ErrNotAllowed), when the landlord has no NINO (ErrNoNINO) or VRN
// (ErrNoVRN) for it, or when the path names another taxpayer
// (*proxy.IdentifierError). A write is waited for even if the caller goes
// away, so that what HMRC did is recorded with its reference.
func (s *Service) Proxy(ctx context.Context, by Actor, req ProxyRequest) (*hmrc.Response, error) {
	u, err := s.user(ctx, req.UserID)
	if err != nil {
		return nil, err
	}
	t, err := s.proxy.Parse(req.Method, req.Path, req.RawQuery)
	if err != nil {
		return nil, err
	}
	identifier := u.NINO
	if t.Family.Purpose == mtdconnect.PurposeVAT {
		if u.VRN == "" {
			return nil, ErrNoVRN
		}
		identifier = u.VRN
	} else if u.NINO == "" {
		return nil, ErrNoNINO
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		ctx = context.WithoutCancel(ctx)
	}
	resp, err := s.proxy.Forward(ctx, proxy.Request{
		Target: t, UserID: u.ID, Identifier: identifier,
		Accept: req.Accept, ContentType: req.ContentType, Body: req.Body,
		Origin: req.Origin, TestScenario: req.TestScenario,
	})
	if err != nil {
		return nil, err
	}
	s.record(ctx, by, "hmrc proxy call", u.ID, t.Family.Purpose, slog.String("api", t.Family.Name),
		slog.String("method", req.Method), slog.Int("hmrc_status", resp.Status), slog.String("correlation_id", resp.CorrelationID))
	return resp, nil
}
