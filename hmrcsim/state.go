package hmrcsim

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Snapshots let a simulator that lives inside a long-running process
// (mtdconnect serve) be stopped and started again without forgetting what
// it told its clients: HMRC does not forget a grant because it restarted,
// and a client whose stored refresh token is suddenly unknown would wrongly
// tell the landlord that the authority was removed.
//
// A snapshot holds what makes the simulator answer as before:
//   - applications (with their secrets) and test users, created ones too;
//   - grants with their consent time (the 18 months count from it), their
//     current refresh token, the refresh tokens already used (so a replayed
//     one is still detected as reuse) and their access token with its
//     expiry; application-restricted tokens;
//   - ITSA cumulative summaries and the times they arrived, which fulfil
//     the obligations; quarterly period type elections; the sandbox's test
//     businesses; VAT returns, which fulfil obligations and make a second
//     return for the same period a duplicate;
//   - the year end: UK property annual submissions, calculations and the
//     final declarations and amendments made with them (yearend_state.go);
//   - the /admin/clock offset: the stored timestamps were written on the
//     advanced clock, and dropping the offset would move the clock back,
//     reviving access tokens (and grants) that had already expired.
//
// Left out, on purpose: pending authorisation codes and browser sessions
// (a code lives 10 minutes; the landlord starts the journey again), fault
// knobs (run-time settings), counters (Stats are not state), the fraud
// prevention headers last received (feedback on recent requests) and the
// rate limiter's windows (real time).
//
// The snapshot holds live credentials of this simulator in clear text: the
// caller stores it where only its user can read it.

// stateVersion is the snapshot format this code writes and reads.
const stateVersion = 1

type stateSnapshot struct {
	Version      int                `json:"version"`
	ClockOffset  string             `json:"clockOffset,omitempty"` // a Go duration, e.g. "4h0m0s"
	Applications []stateApplication `json:"applications,omitempty"`
	Users        []stateUser        `json:"users,omitempty"`
	Grants       []stateGrant       `json:"grants,omitempty"`
	AppTokens    []stateAppToken    `json:"applicationTokens,omitempty"`
	ITSA         []stateITSA        `json:"itsa,omitempty"`
	PeriodTypes  []statePeriodType  `json:"periodTypes,omitempty"`
	Businesses   []stateBusinesses  `json:"testBusinesses,omitempty"`
	VATReturns   []stateVATReturn   `json:"vatReturns,omitempty"`
	YearEnd      *stateYearEnd      `json:"yearEnd,omitempty"` // yearend_state.go
}

// stateApplication is registeredApp with JSON names: the client secret's
// SHA-256 only. ClientSecret is read from a file an older simulator wrote
// (hashed on loading, and gone from the file at the next save), never
// written.
type stateApplication struct {
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret,omitempty"`
	SecretSHA256 string   `json:"clientSecretSha256,omitempty"`
	RedirectURIs []string `json:"redirectUris,omitempty"`
	Name         string   `json:"name,omitempty"`
}

// stateUser is TestUser with JSON names, convertible like stateApplication.
type stateUser struct {
	UserID              string   `json:"userId"`
	Password            string   `json:"password"`
	NINO                string   `json:"nino,omitempty"`
	VRN                 string   `json:"vrn,omitempty"`
	MTDITID             string   `json:"mtdItId,omitempty"`
	FullName            string   `json:"fullName,omitempty"`
	SAUTR               string   `json:"saUtr,omitempty"`
	CTUTR               string   `json:"ctUtr,omitempty"`
	EmpRef              string   `json:"empRef,omitempty"`
	EmailAddress        string   `json:"emailAddress,omitempty"`
	FirstName           string   `json:"firstName,omitempty"`
	LastName            string   `json:"lastName,omitempty"`
	DateOfBirth         string   `json:"dateOfBirth,omitempty"`
	OrganisationName    string   `json:"organisationName,omitempty"`
	VATRegistrationDate string   `json:"vatRegistrationDate,omitempty"`
	AffinityGroup       string   `json:"affinityGroup,omitempty"`
	ServiceNames        []string `json:"serviceNames,omitempty"`
}

type stateGrant struct {
	ClientID  string    `json:"clientId"`
	UserID    string    `json:"userId"`
	Scopes    []string  `json:"scopes"`
	GrantedAt time.Time `json:"grantedAt"` // consent, which the 18 months count from
	ExpiresAt time.Time `json:"expiresAt"`
	Revoked   bool      `json:"revoked,omitempty"`
	// RefreshToken is the current one; UsedRefreshTokens were spent.
	RefreshToken      string   `json:"refreshToken,omitempty"`
	UsedRefreshTokens []string `json:"usedRefreshTokens,omitempty"`
	// AccessToken is the current one, absent once revoked.
	AccessToken          string    `json:"accessToken,omitempty"`
	AccessTokenExpiresAt time.Time `json:"accessTokenExpiresAt,omitzero"`
}

// stateAppToken is an application-restricted (client_credentials) token.
type stateAppToken struct {
	Token     string    `json:"token"`
	ClientID  string    `json:"clientId"`
	Scopes    []string  `json:"scopes,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// stateITSA is one (vendor, NINO, business, tax year): the cumulative
// summary last submitted and the obligations it fulfilled (period end ->
// when the update arrived, RFC 3339, or a date in older snapshots). Vendor
// is empty for the demo's data, the application's client ID for the
// sandbox's stateful data.
type stateITSA struct {
	Vendor      string            `json:"vendor,omitempty"`
	NINO        string            `json:"nino"`
	BusinessID  string            `json:"businessId"`
	TaxYear     string            `json:"taxYear"`
	Summary     json.RawMessage   `json:"summary,omitempty"`
	SubmittedOn time.Time         `json:"submittedOn,omitzero"`
	FromDate    string            `json:"fromDate,omitempty"`
	ToDate      string            `json:"toDate,omitempty"`
	Received    map[string]string `json:"received,omitempty"`
}

// statePeriodType is a quarterly period type election.
type statePeriodType struct {
	Vendor     string `json:"vendor,omitempty"`
	NINO       string `json:"nino"`
	BusinessID string `json:"businessId"`
	TaxYear    string `json:"taxYear"`
	Type       string `json:"type"`
}

// stateBusinesses are one vendor's test businesses for one NINO.
type stateBusinesses struct {
	Vendor     string          `json:"vendor"`
	NINO       string          `json:"nino"`
	Businesses []*testBusiness `json:"businesses"`
}

type stateVATReturn struct {
	VRN      string        `json:"vrn"`
	Received time.Time     `json:"received"`
	Return   vatReturnView `json:"return"`
}

// SaveState writes the simulator's state to w as versioned JSON (see the
// comment at the top of state.go for what it holds). The output depends
// only on the state, so a caller can compare two snapshots to see whether
// anything changed. It holds the simulator's locks only while copying.
func (s *Server) SaveState(w io.Writer) error {
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(snap); err != nil {
		return fmt.Errorf("hmrcsim: write state: %w", err)
	}
	return nil
}

func (s *Server) snapshot() (stateSnapshot, error) {
	snap := stateSnapshot{Version: stateVersion}
	if off := time.Duration(s.offset.Load()); off != 0 {
		snap.ClockOffset = off.String()
	}

	s.mu.Lock()
	for _, a := range s.apps {
		snap.Applications = append(snap.Applications, stateApplication{ClientID: a.ClientID,
			SecretSHA256: hex.EncodeToString(a.SecretSHA256[:]), RedirectURIs: slices.Clone(a.RedirectURIs), Name: a.Name})
	}
	for _, u := range s.users {
		su := stateUser(*u)
		su.ServiceNames = slices.Clone(u.ServiceNames)
		snap.Users = append(snap.Users, su)
	}
	used := map[*grant][]string{}
	for tok, g := range s.usedRefresh {
		used[g] = append(used[g], tok)
	}
	for _, g := range s.grants {
		sg := stateGrant{
			ClientID: g.clientID, UserID: g.userID, Scopes: slices.Clone(g.scopes),
			GrantedAt: g.grantedAt, ExpiresAt: g.expiresAt, Revoked: g.revoked,
			UsedRefreshTokens: slices.Sorted(slices.Values(used[g])),
		}
		if s.refreshTokens[g.refreshToken] == g {
			sg.RefreshToken = g.refreshToken
		}
		if at := s.accessTokens[g.accessTok]; at != nil && at.grant == g {
			sg.AccessToken, sg.AccessTokenExpiresAt = g.accessTok, at.expiresAt
		}
		snap.Grants = append(snap.Grants, sg)
	}
	// A user token that is not its grant's current one is dead (refreshed
	// or revoked) and is left out.
	for tok, at := range s.accessTokens {
		if at.grant == nil {
			snap.AppTokens = append(snap.AppTokens, stateAppToken{
				Token: tok, ClientID: at.clientID, Scopes: slices.Clone(at.scopes), ExpiresAt: at.expiresAt,
			})
		}
	}
	itsa, err := s.itsa.snapshotLocked()
	snap.PeriodTypes, snap.Businesses = s.itsa.snapshotChoicesLocked()
	s.mu.Unlock()
	if err != nil {
		return stateSnapshot{}, err
	}
	snap.ITSA = itsa
	snap.VATReturns = s.vat.snapshot()
	if snap.YearEnd, err = s.year.snapshot(); err != nil {
		return stateSnapshot{}, err
	}

	slices.SortFunc(snap.Applications, func(a, b stateApplication) int { return cmp.Compare(a.ClientID, b.ClientID) })
	slices.SortFunc(snap.Users, func(a, b stateUser) int { return cmp.Compare(a.UserID, b.UserID) })
	slices.SortFunc(snap.AppTokens, func(a, b stateAppToken) int { return cmp.Compare(a.Token, b.Token) })
	return snap, nil
}

// snapshotLocked copies the ITSA data; the caller holds s.mu, which guards it.
func (st *itsaState) snapshotLocked() ([]stateITSA, error) {
	keys := slices.Collect(maps.Keys(st.summaries))
	for k := range st.received {
		if _, ok := st.summaries[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, compareKeys)
	out := make([]stateITSA, 0, len(keys))
	for _, k := range keys {
		e := stateITSA{Vendor: k.vendor, NINO: k.nino, BusinessID: k.businessID, TaxYear: k.taxYear, Received: maps.Clone(st.received[k])}
		if sum := st.summaries[k]; sum != nil {
			body, err := json.Marshal(sum.body)
			if err != nil {
				return nil, fmt.Errorf("hmrcsim: write state: ITSA summary %s %s: %w", k.businessID, k.taxYear, err)
			}
			e.Summary, e.SubmittedOn = body, sum.submittedOn
			e.FromDate, e.ToDate = sum.fromDate, sum.toDate
		}
		out = append(out, e)
	}
	return out, nil
}

func compareKeys(a, b itsaKey) int {
	return cmp.Or(cmp.Compare(a.vendor, b.vendor), cmp.Compare(a.nino, b.nino),
		cmp.Compare(a.businessID, b.businessID), cmp.Compare(a.taxYear, b.taxYear))
}

// snapshotChoicesLocked copies the period type elections and the test
// businesses, in a stable order; the caller holds s.mu.
func (st *itsaState) snapshotChoicesLocked() ([]statePeriodType, []stateBusinesses) {
	keys := slices.SortedFunc(maps.Keys(st.periodTypes), compareKeys)
	var types []statePeriodType
	for _, k := range keys {
		types = append(types, statePeriodType{Vendor: k.vendor, NINO: k.nino, BusinessID: k.businessID, TaxYear: k.taxYear, Type: st.periodTypes[k]})
	}
	var bs []stateBusinesses
	for k, list := range st.businesses {
		if len(list) == 0 {
			continue
		}
		cp := make([]*testBusiness, len(list))
		for i, b := range list {
			c := *b
			cp[i] = &c
		}
		bs = append(bs, stateBusinesses{Vendor: k.vendor, NINO: k.nino, Businesses: cp})
	}
	slices.SortFunc(bs, func(a, b stateBusinesses) int {
		return cmp.Or(cmp.Compare(a.Vendor, b.Vendor), cmp.Compare(a.NINO, b.NINO))
	})
	return types, bs
}

// snapshot copies the VAT returns under the VAT data's own mutex.
func (st *vatState) snapshot() []stateVATReturn {
	st.mu.Lock()
	out := make([]stateVATReturn, 0, len(st.returns))
	for k, ret := range st.returns {
		out = append(out, stateVATReturn{VRN: k.vrn, Received: ret.received, Return: ret.view})
	}
	st.mu.Unlock()
	slices.SortFunc(out, func(a, b stateVATReturn) int {
		return cmp.Or(cmp.Compare(a.VRN, b.VRN), cmp.Compare(a.Return.PeriodKey, b.Return.PeriodKey))
	})
	return out
}

// restoredState is a checked snapshot in the simulator's own form, built
// before anything is replaced so that a bad snapshot changes nothing.
type restoredState struct {
	offset        time.Duration
	apps          map[string]registeredApp
	users         map[string]*TestUser
	grants        []*grant
	refreshTokens map[string]*grant
	usedRefresh   map[string]*grant
	accessTokens  map[string]*accessToken
	itsaSummaries map[itsaKey]*cumulativeSummary
	itsaReceived  map[itsaKey]map[string]string
	periodTypes   map[itsaKey]string
	businesses    map[vendorNINO][]*testBusiness
	vatReturns    map[vatKey]*storedReturn
}

// LoadState replaces the simulator's state with a snapshot written by
// SaveState. Applications and test users registered before the call
// (AddApplication, AddTestUser) are kept and win over the snapshot's copies
// with the same client ID or user ID: they come from the caller's current
// configuration, which may have changed since the snapshot (a new client
// secret, say). Everything else the snapshot holds replaces what the
// simulator had; pending codes, sessions, faults and counters are left as
// they are.
//
// A snapshot that is not valid JSON, has no or another version, or holds
// inconsistent data is refused with an error and the simulator is left
// unchanged. LoadState is meant for a simulator that is not serving yet.
func (s *Server) LoadState(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("hmrcsim: read state: %w", err)
	}
	// The version first: a snapshot of another version may not even decode
	// into this one's types, and "version 2" is the clearer message.
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("hmrcsim: state is not a snapshot: %w", err)
	}
	switch {
	case head.Version == nil:
		return errors.New("hmrcsim: state has no version")
	case *head.Version != stateVersion:
		return fmt.Errorf("hmrcsim: state version %d is not supported (this simulator reads version %d)", *head.Version, stateVersion)
	}
	var snap stateSnapshot
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // a field this version does not know would be silently lost
	if err := dec.Decode(&snap); err != nil {
		return fmt.Errorf("hmrcsim: state: %w", err)
	}
	st, err := restore(snap)
	if err != nil {
		return fmt.Errorf("hmrcsim: state: %w", err)
	}
	year, err := restoreYearEnd(snap.YearEnd)
	if err != nil {
		return fmt.Errorf("hmrcsim: state: %w", err)
	}

	s.mu.Lock()
	for id, a := range s.apps {
		st.apps[id] = a
	}
	for id, u := range s.users {
		st.users[id] = u
	}
	s.apps, s.users, s.grants = st.apps, st.users, st.grants
	s.refreshTokens, s.usedRefresh, s.accessTokens = st.refreshTokens, st.usedRefresh, st.accessTokens
	s.itsa.summaries, s.itsa.received = st.itsaSummaries, st.itsaReceived
	s.itsa.periodTypes, s.itsa.businesses = st.periodTypes, st.businesses
	s.mu.Unlock()
	s.vat.mu.Lock()
	s.vat.returns = st.vatReturns
	s.vat.mu.Unlock()
	s.year.load(year)
	s.offset.Store(int64(st.offset))
	s.log.Info("hmrcsim: state loaded", "applications", len(st.apps), "users", len(st.users),
		"grants", len(st.grants), "itsa", len(st.itsaSummaries), "vat_returns", len(st.vatReturns))
	return nil
}

// restore checks a decoded snapshot and builds the simulator's maps from it.
func restore(snap stateSnapshot) (*restoredState, error) {
	st := &restoredState{
		apps:          map[string]registeredApp{},
		users:         map[string]*TestUser{},
		refreshTokens: map[string]*grant{},
		usedRefresh:   map[string]*grant{},
		accessTokens:  map[string]*accessToken{},
		itsaSummaries: map[itsaKey]*cumulativeSummary{},
		itsaReceived:  map[itsaKey]map[string]string{},
		periodTypes:   map[itsaKey]string{},
		businesses:    map[vendorNINO][]*testBusiness{},
		vatReturns:    map[vatKey]*storedReturn{},
	}
	if snap.ClockOffset != "" {
		d, err := time.ParseDuration(snap.ClockOffset)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("clockOffset %q is not a non-negative duration", snap.ClockOffset)
		}
		st.offset = d
	}
	for i, a := range snap.Applications {
		hash, err := hex.DecodeString(a.SecretSHA256)
		switch {
		case a.ClientID == "" || (a.ClientSecret == "" && a.SecretSHA256 == ""):
			return nil, fmt.Errorf("application %d: client ID and secret are required", i)
		case a.SecretSHA256 != "" && (err != nil || len(hash) != sha256.Size):
			return nil, fmt.Errorf("application %q: clientSecretSha256 is not a SHA-256 in hex", a.ClientID)
		case st.apps[a.ClientID].ClientID != "":
			return nil, fmt.Errorf("application %q appears twice", a.ClientID)
		}
		app := register(Application{ClientID: a.ClientID, ClientSecret: a.ClientSecret, RedirectURIs: a.RedirectURIs, Name: a.Name})
		if a.SecretSHA256 != "" {
			app.SecretSHA256 = [sha256.Size]byte(hash)
		}
		st.apps[a.ClientID] = app
	}
	for i, su := range snap.Users {
		switch {
		case su.UserID == "" || su.Password == "":
			return nil, fmt.Errorf("user %d: user ID and password are required", i)
		case st.users[su.UserID] != nil:
			return nil, fmt.Errorf("user %q appears twice", su.UserID)
		}
		u := TestUser(su)
		st.users[u.UserID] = &u
	}
	if err := st.restoreTokens(snap); err != nil {
		return nil, err
	}
	if err := st.restoreITSA(snap.ITSA); err != nil {
		return nil, err
	}
	if err := st.restoreChoices(snap.PeriodTypes, snap.Businesses); err != nil {
		return nil, err
	}
	if err := st.restoreVAT(snap.VATReturns); err != nil {
		return nil, err
	}
	return st, nil
}

func (st *restoredState) restoreTokens(snap stateSnapshot) error {
	// Every token is unguessable and issued once, so any repeat means the
	// snapshot was edited or corrupted.
	seen := map[string]bool{}
	fresh := func(tok string) bool {
		ok := tok != "" && !seen[tok]
		seen[tok] = true
		return ok
	}
	for i, sg := range snap.Grants {
		switch {
		case sg.ClientID == "" || sg.UserID == "":
			return fmt.Errorf("grant %d: client ID and user ID are required", i)
		case sg.GrantedAt.IsZero() || sg.ExpiresAt.IsZero():
			return fmt.Errorf("grant %d: grantedAt and expiresAt are required", i)
		case !knownScopeList(sg.Scopes):
			return fmt.Errorf("grant %d: unknown scope in %q", i, sg.Scopes)
		}
		g := &grant{
			clientID: sg.ClientID, userID: sg.UserID, scopes: sg.Scopes,
			grantedAt: sg.GrantedAt, expiresAt: sg.ExpiresAt, revoked: sg.Revoked,
		}
		if sg.RefreshToken != "" {
			if !fresh(sg.RefreshToken) {
				return fmt.Errorf("grant %d: refresh token repeated", i)
			}
			g.refreshToken = sg.RefreshToken
			st.refreshTokens[g.refreshToken] = g
		}
		for _, tok := range sg.UsedRefreshTokens {
			if !fresh(tok) {
				return fmt.Errorf("grant %d: used refresh token empty or repeated", i)
			}
			st.usedRefresh[tok] = g
		}
		if sg.AccessToken != "" {
			if !fresh(sg.AccessToken) || sg.AccessTokenExpiresAt.IsZero() {
				return fmt.Errorf("grant %d: access token repeated or without expiry", i)
			}
			g.accessTok = sg.AccessToken
			st.accessTokens[g.accessTok] = &accessToken{clientID: g.clientID, grant: g, scopes: g.scopes, expiresAt: sg.AccessTokenExpiresAt}
		}
		st.grants = append(st.grants, g)
	}
	for i, t := range snap.AppTokens {
		switch {
		case !fresh(t.Token):
			return fmt.Errorf("application token %d: empty or repeated", i)
		case t.ClientID == "" || t.ExpiresAt.IsZero():
			return fmt.Errorf("application token %d: client ID and expiresAt are required", i)
		case !knownScopeList(t.Scopes):
			return fmt.Errorf("application token %d: unknown scope in %q", i, t.Scopes)
		}
		st.accessTokens[t.Token] = &accessToken{clientID: t.ClientID, scopes: t.Scopes, expiresAt: t.ExpiresAt}
	}
	return nil
}

func knownScopeList(scopes []string) bool {
	for _, sc := range scopes {
		if _, ok := knownScopes[sc]; !ok {
			return false
		}
	}
	return true
}

func (st *restoredState) restoreITSA(entries []stateITSA) error {
	for _, e := range entries {
		k := itsaKey{e.Vendor, e.NINO, e.BusinessID, e.TaxYear}
		name := strings.Join([]string{e.NINO, e.BusinessID, e.TaxYear}, " ")
		_, yearErrs := checkTaxYear(e.TaxYear, 0)
		switch {
		case !validNINO(e.NINO) || ninoKey(e.NINO) != e.NINO:
			return fmt.Errorf("ITSA %s: invalid NINO (stored without suffix)", name)
		case !businessIDRE.MatchString(e.BusinessID) || len(yearErrs) > 0:
			return fmt.Errorf("ITSA %s: invalid business ID or tax year", name)
		case st.itsaSummaries[k] != nil || st.itsaReceived[k] != nil:
			return fmt.Errorf("ITSA %s appears twice", name)
		case e.Summary == nil && len(e.Received) == 0:
			return fmt.Errorf("ITSA %s: neither summary nor received dates", name)
		}
		if e.Summary != nil {
			// As submitted: json.Number keeps the amounts exactly as sent.
			dec := json.NewDecoder(bytes.NewReader(e.Summary))
			dec.UseNumber()
			var body map[string]any
			if err := dec.Decode(&body); err != nil || body == nil || e.SubmittedOn.IsZero() {
				return fmt.Errorf("ITSA %s: summary must be an object with submittedOn", name)
			}
			sum := &cumulativeSummary{body: body, submittedOn: e.SubmittedOn, fromDate: e.FromDate, toDate: e.ToDate}
			if sum.fromDate == "" { // snapshots from before the GET showed the period
				sum.fromDate, sum.toDate = summaryPeriod(body, e.TaxYear, e.Received)
			}
			st.itsaSummaries[k] = sum
		}
		if len(e.Received) > 0 {
			for end, received := range e.Received {
				if _, ok := parseDate(end); !ok {
					return fmt.Errorf("ITSA %s: received period end %q is not a date", name, end)
				}
				if _, ok := receivedAt(received); !ok {
					return fmt.Errorf("ITSA %s: received date %q is not a date or time", name, received)
				}
			}
			st.itsaReceived[k] = e.Received
		}
	}
	return nil
}

func (st *restoredState) restoreVAT(entries []stateVATReturn) error {
	for _, e := range entries {
		v := e.Return
		k := vatKey{e.VRN, v.PeriodKey}
		switch {
		case !vrnRE.MatchString(e.VRN) || !periodKeyRE.MatchString(v.PeriodKey):
			return fmt.Errorf("VAT return %q %q: invalid VRN or period key", e.VRN, v.PeriodKey)
		case st.vatReturns[k] != nil:
			return fmt.Errorf("VAT return %s %s appears twice", e.VRN, v.PeriodKey)
		case e.Received.IsZero():
			return fmt.Errorf("VAT return %s %s: received is required", e.VRN, v.PeriodKey)
		}
		boxes := []json.Number{v.VatDueSales, v.VatDueAcquisitions, v.TotalVatDue, v.VatReclaimedCurrPeriod, v.NetVatDue,
			v.TotalValueSalesExVAT, v.TotalValuePurchasesExVAT, v.TotalValueGoodsSuppliedExVAT, v.TotalAcquisitionsExVAT}
		if slices.Contains(boxes, "") {
			return fmt.Errorf("VAT return %s %s: all nine boxes are required", e.VRN, v.PeriodKey)
		}
		st.vatReturns[k] = &storedReturn{view: v, received: e.Received}
	}
	return nil
}

// summaryPeriod is the period of a summary stored before the simulator
// kept it: the body's dates, or the tax year's start to the latest period
// end it fulfilled.
func summaryPeriod(body map[string]any, taxYear string, received map[string]string) (from, to string) {
	from, _ = body["fromDate"].(string)
	to, _ = body["toDate"].(string)
	if from != "" && to != "" {
		return from, to
	}
	year, _ := checkTaxYear(taxYear, 0)
	p := quarterlyPeriods(year, periodStandard, false)
	to = p.ends[0].Format(isoDate)
	for end := range received {
		to = max(to, end)
	}
	return p.start.Format(isoDate), to
}

func (st *restoredState) restoreChoices(types []statePeriodType, businesses []stateBusinesses) error {
	for _, t := range types {
		k := itsaKey{t.Vendor, t.NINO, t.BusinessID, t.TaxYear}
		_, yearErrs := checkTaxYear(t.TaxYear, 0)
		switch {
		case !validNINO(t.NINO) || !businessIDRE.MatchString(t.BusinessID) || len(yearErrs) > 0:
			return fmt.Errorf("period type %q %q %q: invalid NINO, business ID or tax year", t.NINO, t.BusinessID, t.TaxYear)
		case t.Type != periodStandard && t.Type != periodCalendar:
			return fmt.Errorf("period type %q: not standard or calendar", t.Type)
		case st.periodTypes[k] != "":
			return fmt.Errorf("period type %s %s %s appears twice", t.NINO, t.BusinessID, t.TaxYear)
		}
		st.periodTypes[k] = t.Type
	}
	for _, e := range businesses {
		k := vendorNINO{e.Vendor, e.NINO}
		switch {
		case e.Vendor == "" || !validNINO(e.NINO):
			return fmt.Errorf("test businesses of %q %q: vendor and NINO are required", e.Vendor, e.NINO)
		case st.businesses[k] != nil:
			return fmt.Errorf("test businesses of %s %s appear twice", e.Vendor, e.NINO)
		}
		for _, b := range e.Businesses {
			if b == nil || !businessIDRE.MatchString(b.BusinessID) || b.TypeOfBusiness == "" || b.Created.IsZero() {
				return fmt.Errorf("test businesses of %s %s: business ID, type and creation time are required", e.Vendor, e.NINO)
			}
		}
		st.businesses[k] = e.Businesses
	}
	return nil
}
