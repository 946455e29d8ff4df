package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// apiProfile is what the platform may read and set of a landlord: the
// identifiers HMRC's APIs need. Never the email's password, never a token.
type apiProfile struct {
	UserID int64  `json:"user_id"`
	Email  string `json:"email"`
	NINO   string `json:"nino"`
	VRN    string `json:"vrn"`
}

// apiPathUser returns the user named by the path's {id}.
func (s *Server) apiPathUser(r *http.Request) (*mtdconnect.User, error) {
	id, err := apiUserID(r)
	if err != nil {
		return nil, err
	}
	u, err := s.store.UserByID(r.Context(), id)
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return nil, landlord.ErrUnknownUser
	}
	if err != nil {
		return nil, fmt.Errorf("web: api user %d: %w", id, err)
	}
	return u, nil
}

func profileOf(u *mtdconnect.User) apiProfile {
	return apiProfile{UserID: u.ID, Email: u.Email, NINO: u.NINO, VRN: u.VRN}
}

func (s *Server) handleAPIProfile(w http.ResponseWriter, r *http.Request) {
	u, err := s.apiPathUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, profileOf(u))
}

// handleAPIPatchProfile sets the landlord's NINO and/or VRN, so the
// platform can fill them from its own records: {"nino": "…", "vrn": "…"}.
// A field left out is unchanged, "" clears it. Both are validated with
// HMRC's rules before anything is written: one bad value changes nothing.
func (s *Server) handleAPIPatchProfile(w http.ResponseWriter, r *http.Request) {
	u, err := s.apiPathUser(r)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	var body struct {
		NINO *string `json:"nino"`
		VRN  *string `json:"vrn"`
	}
	if err := decodeJSONBody(w, r, &body); err != nil {
		s.apiError(w, r, err)
		return
	}
	updated := *u
	var errs []fieldError
	if body.NINO != nil {
		updated.NINO = ""
		if *body.NINO != "" {
			n, err := mtdconnect.ParseNINO(*body.NINO)
			var ne *mtdconnect.NINOError
			if errors.As(err, &ne) {
				errs = append(errs, fieldError{Code: "FORMAT_NINO", Message: "The National Insurance number " + ne.Problem + ".", Paths: []string{"/nino"}})
			}
			updated.NINO = n
		}
	}
	if body.VRN != nil {
		updated.VRN = ""
		if *body.VRN != "" {
			v, err := mtdconnect.ParseVRN(*body.VRN)
			var ve *mtdconnect.VRNError
			if errors.As(err, &ve) {
				errs = append(errs, fieldError{Code: "VRN_INVALID", Message: "The VAT registration number " + ve.Problem + ".", Paths: []string{"/vrn"}})
			}
			updated.VRN = v
		}
	}
	if len(errs) > 0 {
		s.writeJSONError(w, r, problem{Status: http.StatusBadRequest, Code: "invalid_request", Title: "Check the details",
			Message: "Nothing was changed: correct the details and try again.", Errors: errs})
		return
	}
	if err := s.store.UpdateUser(r.Context(), &updated); err != nil {
		s.apiError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, profileOf(&updated))
}
