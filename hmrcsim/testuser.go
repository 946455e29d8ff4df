package hmrcsim

import (
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strings"
)

// Create Test User API v1.0 (sandbox only at HMRC): application-restricted,
// creates a Government Gateway test user enrolled for the requested services.

type testService struct {
	Key              string   `json:"key"`
	Name             string   `json:"name"`
	AllowedUserTypes []string `json:"allowedUserTypes"`
}

// testServices are the service names the simulator understands; a subset of
// HMRC's list, enough for the ITSA and VAT journeys.
var testServices = []testService{
	{"national-insurance", "National Insurance", []string{"INDIVIDUAL", "ORGANISATION"}},
	{"self-assessment", "Self Assessment", []string{"INDIVIDUAL", "ORGANISATION"}},
	{"mtd-income-tax", "Making Tax Digital for Income Tax", []string{"INDIVIDUAL", "ORGANISATION"}},
	{"mtd-vat", "Making Tax Digital for VAT", []string{"INDIVIDUAL", "ORGANISATION"}},
	{"submit-vat-returns", "Submit VAT Returns", []string{"ORGANISATION"}},
	{"corporation-tax", "Corporation Tax", []string{"ORGANISATION"}},
	{"paye-for-employers", "PAYE for Employers", []string{"ORGANISATION"}},
}

type createTestUserRequest struct {
	ServiceNames []string `json:"serviceNames"`
	NINO         string   `json:"nino"` // optional, individuals only
}

type address struct {
	Line1    string `json:"line1"`
	Line2    string `json:"line2"`
	Postcode string `json:"postcode"`
}

type individualDetails struct {
	FirstName   string  `json:"firstName"`
	LastName    string  `json:"lastName"`
	DateOfBirth string  `json:"dateOfBirth"`
	Address     address `json:"address"`
}

type organisationDetails struct {
	Name    string  `json:"name"`
	Address address `json:"address"`
}

// testUserResponse is HMRC's 201 body; identifiers appear only when one of
// the requested services needs them.
type testUserResponse struct {
	UserID              string               `json:"userId"`
	Password            string               `json:"password"`
	UserFullName        string               `json:"userFullName"`
	EmailAddress        string               `json:"emailAddress"`
	IndividualDetails   *individualDetails   `json:"individualDetails,omitempty"`
	OrganisationDetails *organisationDetails `json:"organisationDetails,omitempty"`
	SAUTR               string               `json:"saUtr,omitempty"`
	NINO                string               `json:"nino,omitempty"`
	MTDITID             string               `json:"mtdItId,omitempty"`
	VRN                 string               `json:"vrn,omitempty"`
	VATRegistrationDate string               `json:"vatRegistrationDate,omitempty"`
	CTUTR               string               `json:"ctUtr,omitempty"`
	EmpRef              string               `json:"empRef,omitempty"`
}

var testAddress = address{Line1: "1 Test Street", Line2: "Testtown", Postcode: "TS1 1AA"}

func (s *Server) createIndividual(w http.ResponseWriter, r *http.Request) {
	s.createTestUser(w, r, "INDIVIDUAL")
}

func (s *Server) createOrganisation(w http.ResponseWriter, r *http.Request) {
	s.createTestUser(w, r, "ORGANISATION")
}

func (s *Server) testUserServices(w http.ResponseWriter, r *http.Request) {
	if !requireAccept(w, r, "1.0") {
		return
	}
	if _, ok := s.apiApplication(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, testServices)
}

func (s *Server) createTestUser(w http.ResponseWriter, r *http.Request, userType string) {
	if !requireAccept(w, r, "1.0") {
		return
	}
	if _, ok := s.apiApplication(w, r); !ok {
		return
	}
	req, err := readCreateRequest(r, userType)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
		return
	}
	s.mu.Lock()
	u := s.newTestUserLocked(userType, req)
	s.users[u.UserID] = u
	s.mu.Unlock()
	s.log.Info("hmrcsim: test user created", "user", u.UserID, "type", userType)
	writeJSON(w, http.StatusCreated, testUserJSON(u))
}

// readCreateRequest accepts an empty body (no enrolments), as HMRC does.
func readCreateRequest(r *http.Request, userType string) (createTestUserRequest, error) {
	var req createTestUserRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return req, fmt.Errorf("the request body could not be read")
	}
	if strings.TrimSpace(string(body)) != "" {
		if err := json.Unmarshal(body, &req); err != nil {
			return req, fmt.Errorf("invalid JSON payload")
		}
	}
	for _, name := range req.ServiceNames {
		i := slices.IndexFunc(testServices, func(t testService) bool { return t.Key == name })
		if i < 0 || !slices.Contains(testServices[i].AllowedUserTypes, userType) {
			return req, fmt.Errorf("service name %q is not supported for %s users", name, strings.ToLower(userType))
		}
	}
	return req, nil
}

var (
	firstNames = []string{"Ida", "Alex", "Sam", "Priya", "Tom", "Grace", "Ravi", "Megan"}
	lastNames  = []string{"Newton", "Patel", "Jones", "Okafor", "Smith", "Evans", "Clarke", "Hughes"}
)

// newTestUserLocked builds a user with fresh identifiers for the requested
// services; callers hold s.mu (identifiers are checked for uniqueness).
func (s *Server) newTestUserLocked(userType string, req createTestUserRequest) *TestUser {
	first, last := pick(firstNames), pick(lastNames)
	u := &TestUser{
		UserID:       s.uniqueLocked(func() string { return digits(12) }, func(u *TestUser) string { return u.UserID }),
		Password:     lowerAlnum(12),
		FullName:     first + " " + last,
		FirstName:    first,
		LastName:     last,
		EmailAddress: strings.ToLower(first+"."+last) + "@example.com",
		ServiceNames: slices.Clone(req.ServiceNames),
	}
	if userType == "INDIVIDUAL" {
		u.AffinityGroup = "Individual"
		u.DateOfBirth = fmt.Sprintf("%d-%02d-%02d", 1950+mrand.IntN(50), 1+mrand.IntN(12), 1+mrand.IntN(28))
	} else {
		u.AffinityGroup = "Organisation"
		u.OrganisationName = last + " Properties Ltd"
	}
	for _, svc := range req.ServiceNames {
		switch svc {
		case "national-insurance", "mtd-income-tax":
			if u.NINO == "" {
				u.NINO = req.NINO
			}
			if u.NINO == "" {
				u.NINO = s.uniqueLocked(newNINO, func(u *TestUser) string { return u.NINO })
			}
			if svc == "mtd-income-tax" {
				u.MTDITID = s.uniqueLocked(func() string { return "XAIT" + digits(11) }, func(u *TestUser) string { return u.MTDITID })
			}
		case "self-assessment":
			u.SAUTR = s.uniqueLocked(func() string { return digits(10) }, func(u *TestUser) string { return u.SAUTR })
		case "mtd-vat", "submit-vat-returns":
			if u.VRN == "" {
				u.VRN = s.uniqueLocked(func() string { return fmt.Sprint(1+mrand.IntN(9)) + digits(8) }, func(u *TestUser) string { return u.VRN })
				u.VATRegistrationDate = s.now().AddDate(-3, 0, 0).Format("2006-01-02")
			}
		case "corporation-tax":
			u.CTUTR = digits(10)
		case "paye-for-employers":
			u.EmpRef = digits(3) + "/" + strings.ToUpper(lowerAlnum(10))
		}
	}
	return u
}

func testUserJSON(u *TestUser) testUserResponse {
	resp := testUserResponse{
		UserID: u.UserID, Password: u.Password, UserFullName: u.FullName, EmailAddress: u.EmailAddress,
		SAUTR: u.SAUTR, NINO: u.NINO, MTDITID: u.MTDITID, VRN: u.VRN, VATRegistrationDate: u.VATRegistrationDate,
		CTUTR: u.CTUTR, EmpRef: u.EmpRef,
	}
	if u.AffinityGroup == "Organisation" {
		resp.OrganisationDetails = &organisationDetails{Name: u.OrganisationName, Address: testAddress}
	} else {
		resp.IndividualDetails = &individualDetails{FirstName: u.FirstName, LastName: u.LastName, DateOfBirth: u.DateOfBirth, Address: testAddress}
	}
	return resp
}

// uniqueLocked draws identifiers until one no existing user has.
func (s *Server) uniqueLocked(gen func() string, field func(*TestUser) string) string {
	for {
		v, taken := gen(), false
		for _, u := range s.users {
			taken = taken || field(u) == v
		}
		if !taken {
			return v
		}
	}
}

// newNINO returns a NINO that passes HMRC's MTD validation regex.
func newNINO() string {
	prefixes := []string{"AA", "AB", "CE", "HJ", "PE", "SW"}
	return pick(prefixes) + digits(6) + string(rune('A'+mrand.IntN(4)))
}

func pick(xs []string) string { return xs[mrand.IntN(len(xs))] }

func digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + mrand.IntN(10))
	}
	return string(b)
}

func lowerAlnum(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[mrand.IntN(len(alphabet))]
	}
	return string(b)
}
