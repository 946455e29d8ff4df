package web

import (
	"net/http"
	"time"

	"github.com/mtdconnect/mtdconnect"
	"github.com/mtdconnect/mtdconnect/landlord"
)

// The API's landlords: PUT creates or updates one by the platform's own ID
// (the ref), GET and PATCH read and change their details, DELETE deletes
// them. Never a password, never a token.

// apiProfile is a landlord as the platform reads them.
type apiProfile struct {
	User        string    `json:"user"` // the ref, or id:N for the built-in pages' landlords
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	NINO        string    `json:"nino"`
	VRN         string    `json:"vrn"`
	CreatedAt   time.Time `json:"created_at"`
}

func profileOf(u *mtdconnect.User) apiProfile {
	return apiProfile{User: u.Handle(), Email: u.Email, DisplayName: u.DisplayName, NINO: u.NINO, VRN: u.VRN,
		CreatedAt: u.CreatedAt.UTC()}
}

// apiUserBody is the body of PUT and PATCH: a field left out is unchanged,
// "" clears it. Null is taken as left out.
type apiUserBody struct {
	Email       *string `json:"email"`
	DisplayName *string `json:"display_name"`
	NINO        *string `json:"nino"`
	VRN         *string `json:"vrn"`
}

func (b apiUserBody) changes() landlord.UserChanges {
	return landlord.UserChanges{Email: b.Email, DisplayName: b.DisplayName, NINO: b.NINO, VRN: b.VRN}
}

// handleAPIProfile is GET /api/v1/users/{user}.
func (s *Server) handleAPIProfile(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := s.apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	u, err := s.landlord.User(r.Context(), id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, profileOf(u), nil
}

// handleAPIPutUser is PUT /api/v1/users/{user}: creates the landlord the
// platform names {user} (201) or updates them (200). Idempotent. Every
// field is checked (the NINO and VRN with HMRC's rules) before anything is
// written: one bad value changes nothing.
func (s *Server) handleAPIPutUser(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var body apiUserBody
	if err := decodeJSONBody(w, r, &body); err != nil {
		return 0, nil, err
	}
	u, created, err := s.landlord.PutUser(r.Context(), byAPI(r), r.PathValue("user"), body.changes())
	if err != nil {
		return 0, nil, err
	}
	info(r.Context()).userID = u.ID
	if created {
		return http.StatusCreated, profileOf(u), nil
	}
	return http.StatusOK, profileOf(u), nil
}

// handleAPIPatchProfile is PATCH /api/v1/users/{user}: changes the given
// details of an existing landlord, so the platform can fill them from its
// own records.
func (s *Server) handleAPIPatchProfile(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := s.apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	var body apiUserBody
	if err := decodeJSONBody(w, r, &body); err != nil {
		return 0, nil, err
	}
	u, err := s.landlord.UpdateUser(r.Context(), byAPI(r), id, body.changes())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, profileOf(u), nil
}

// apiDeleted is what DELETE answers: the landlord is gone; their receipts
// stay readable at Receipts until RecordsKeptUntil.
type apiDeleted struct {
	User             string    `json:"user"` // the handle of what remains: id:N
	DeletedAt        time.Time `json:"deleted_at"`
	RecordsKeptUntil time.Time `json:"records_kept_until"`
	Receipts         string    `json:"receipts"`
}

// handleAPIDeleteUser is DELETE /api/v1/users/{user}.
func (s *Server) handleAPIDeleteUser(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id, err := s.apiUserID(r)
	if err != nil {
		return 0, nil, err
	}
	u, err := s.landlord.DeleteUser(r.Context(), byAPI(r), id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, apiDeleted{User: u.Handle(), DeletedAt: u.DeletedAt, RecordsKeptUntil: u.RecordsKeptUntil,
		Receipts: "/api/v1/users/" + u.Handle() + "/hmrc/submissions"}, nil
}
