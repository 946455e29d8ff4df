package hmrcsim

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// knownScopes are the scopes /oauth/authorize and client_credentials accept;
// anything else is invalid_scope. Extensions may add theirs in an init func.
var knownScopes = map[string]string{
	"hello":                 "Say hello",
	"read:self-assessment":  "View your Self Assessment information",
	"write:self-assessment": "Change your Self Assessment information",
	"read:vat":              "View your VAT information",
	"write:vat":             "Change your VAT information",
}

const (
	oobURI     = "urn:ietf:wg:oauth:2.0:oob"
	oobAutoURI = "urn:ietf:wg:oauth:2.0:oob:auto"
)

// authRequest is a validated /oauth/authorize request going through the
// sign-in and grant pages. It lives in the browser's simulator session.
type authRequest struct {
	clientID, redirectURI, state string
	scopes                       []string
	challenge                    string
	userID                       string // set once the user has signed in
}

// authorizeError is shown to the browser as an HTTP error page, never
// redirected to the application, as HMRC documents.
type authorizeError struct {
	status        int
	code, message string
}

func invalidAuthorize(msg string) *authorizeError {
	return &authorizeError{http.StatusBadRequest, "invalid_request", msg}
}

func (s *Server) app(clientID string) (registeredApp, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps[clientID]
	return a, ok
}

// parseAuthorize applies HMRC's authorize error table, in the table's order.
func (s *Server) parseAuthorize(q url.Values) (*authRequest, *authorizeError) {
	clientID := q.Get("client_id")
	if clientID == "" {
		return nil, invalidAuthorize("client_id is required")
	}
	app, ok := s.app(clientID)
	if !ok {
		return nil, invalidAuthorize("client_id is invalid")
	}
	redirectURI := q.Get("redirect_uri")
	if redirectURI == "" {
		return nil, invalidAuthorize("redirect_uri is required")
	}
	if !slices.Contains(app.RedirectURIs, redirectURI) {
		return nil, invalidAuthorize("redirect_uri is invalid")
	}
	switch q.Get("response_type") {
	case "":
		return nil, invalidAuthorize("response_type is required")
	case "code":
	default:
		return nil, &authorizeError{http.StatusBadRequest, "unsupported_response_type", "response_type must be 'code'"}
	}
	scopes, ok := parseScopes(q.Get("scope"))
	if len(scopes) == 0 && ok {
		return nil, invalidAuthorize("scope is required")
	}
	if !ok {
		return nil, &authorizeError{http.StatusBadRequest, "invalid_scope", "scope is invalid"}
	}
	if q.Has("client_secret") {
		return nil, invalidAuthorize("client_secret should NOT be present")
	}
	if e := checkPKCE(q); e != nil {
		return nil, e
	}
	return &authRequest{
		clientID:    clientID,
		redirectURI: redirectURI,
		state:       q.Get("state"),
		scopes:      scopes,
		challenge:   q.Get("code_challenge"),
	}, nil
}

// parseScopes splits a space-delimited scope list, dropping duplicates; ok is
// false if any scope is unknown.
func parseScopes(raw string) (scopes []string, ok bool) {
	for _, sc := range strings.Fields(raw) {
		if _, known := knownScopes[sc]; !known {
			return nil, false
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	return scopes, true
}

// checkPKCE: PKCE is optional at HMRC, but if used it must be S256 and both
// parameters must be present.
func checkPKCE(q url.Values) *authorizeError {
	hasChallenge, hasMethod := q.Has("code_challenge"), q.Has("code_challenge_method")
	switch {
	case hasChallenge && q.Get("code_challenge") == "":
		return invalidAuthorize("code_challenge if present, cannot be empty")
	case hasMethod && q.Get("code_challenge_method") != "S256":
		return invalidAuthorize("code_challenge_method, if present, must be S256")
	case hasChallenge && !hasMethod:
		return invalidAuthorize("code_challenge_method should be present when code_challenge is present")
	case hasMethod && !hasChallenge:
		return invalidAuthorize("code_challenge should be present when code_challenge_method is present")
	}
	return nil
}

// handleAuthorize is HMRC's www /oauth/authorize: validate, then start the
// Government Gateway sign-in.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	req, aerr := s.parseAuthorize(r.URL.Query())
	if aerr != nil {
		renderPage(w, aerr.status, "error", errorPage{Status: aerr.status, Code: aerr.code, Message: aerr.message})
		return
	}
	sess := s.browserSession(w, r)
	s.mu.Lock()
	ref := randomHex()
	sess.pending[ref] = req
	csrf := sess.newForm("sign-in", ref)
	appName := s.apps[req.clientID].Name
	s.mu.Unlock()
	renderPage(w, http.StatusOK, "sign-in", signInPage{
		Action: "/oauth/authorize/sign-in", CSRF: csrf, Ref: ref, AppName: appName,
	})
}

// handleSignIn checks the test user's credentials, then shows the grant page.
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.postedForm(w, r, "sign-in")
	if !ok {
		return
	}
	ref, userID, password := r.PostForm.Get("auth_request"), r.PostForm.Get("user_id"), r.PostForm.Get("password")
	s.mu.Lock()
	req := sess.pending[ref]
	user := s.users[userID]
	signedIn := req != nil && user != nil && subtle.ConstantTimeCompare([]byte(user.Password), []byte(password)) == 1
	var page any
	var name string
	switch {
	case req == nil:
		name, page = "error", expiredPage()
	case !signedIn:
		name = "sign-in"
		page = signInPage{
			Action: "/oauth/authorize/sign-in", CSRF: sess.newForm("sign-in", ref), Ref: ref,
			AppName: s.apps[req.clientID].Name, UserID: userID,
			Error: "Enter a correct Government Gateway user ID and password",
		}
	default:
		req.userID = user.UserID
		name = "grant"
		page = grantPage{
			AppName: s.apps[req.clientID].Name, Scopes: describeScopes(req.scopes),
			CSRF: sess.newForm("grant", ref), Ref: ref,
		}
	}
	s.mu.Unlock()
	status := http.StatusOK
	if name == "error" {
		status = http.StatusForbidden
	}
	renderPage(w, status, name, page)
}

// handleGrant finishes the journey: a code (or access_denied) back to the app.
func (s *Server) handleGrant(w http.ResponseWriter, r *http.Request) {
	sess, ok := s.postedForm(w, r, "grant")
	if !ok {
		return
	}
	ref := r.PostForm.Get("auth_request")
	s.mu.Lock()
	req := sess.pending[ref]
	if req == nil || req.userID == "" {
		s.mu.Unlock()
		renderPage(w, http.StatusForbidden, "error", expiredPage())
		return
	}
	delete(sess.pending, ref)
	var code string
	granted := r.PostForm.Get("decision") == "grant"
	if granted {
		now := s.now()
		code = randomHex()
		s.codes[code] = &authCode{
			clientID: req.clientID, userID: req.userID, redirectURI: req.redirectURI,
			scopes: req.scopes, challenge: req.challenge,
			consentedAt: now, expiresAt: now.Add(s.opts.CodeLifetime),
		}
	}
	s.mu.Unlock()

	oob := req.redirectURI == oobURI || req.redirectURI == oobAutoURI
	switch {
	case granted && oob:
		renderPage(w, http.StatusOK, "oob", oobPage{Code: code, Auto: req.redirectURI == oobAutoURI, Minutes: int(s.opts.CodeLifetime / time.Minute)})
	case granted:
		http.Redirect(w, r, callbackURL(req.redirectURI, "code", code, "state", req.state), http.StatusFound)
	case oob:
		renderPage(w, http.StatusOK, "oob-denied", nil)
	default:
		http.Redirect(w, r, callbackURL(req.redirectURI,
			"error", "access_denied",
			"error_description", "user denied the authorization",
			"error_code", "USER_DENIED_AUTHORIZATION",
			"state", req.state), http.StatusFound)
	}
}

// callbackURL appends query parameters in the given order (HMRC's examples
// put state last) to a redirect URI that may already carry a query. Empty
// values are left out, so no state means no state parameter.
func callbackURL(redirectURI string, kv ...string) string {
	var b strings.Builder
	b.WriteString(redirectURI)
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		b.WriteString(sep + url.QueryEscape(kv[i]) + "=" + url.QueryEscape(kv[i+1]))
		sep = "&"
	}
	return b.String()
}

// ---- /oauth/token ----

// tokenResponse is HMRC's success body; scope is absent on refresh responses.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// oauthError is a token-endpoint failure in RFC 6749 form.
type oauthError struct {
	status            int
	code, description string
}

func badToken(desc string) *oauthError {
	return &oauthError{http.StatusBadRequest, "invalid_request", desc}
}

var (
	errInvalidClient = &oauthError{http.StatusUnauthorized, "invalid_client", "invalid client id or secret"}
	errRefreshGrant  = &oauthError{http.StatusBadRequest, "invalid_grant", "refresh_token is invalid"}
	errInProgress    = badToken("Refresh operation is already in progress")
)

// handleToken is POST /oauth/token. Client credentials come from the form
// body only: HMRC documents nothing else, so an Authorization header is
// ignored and its absence from the body is reported as missing.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	resp, oerr := s.token(r)
	w.Header().Set("Pragma", "no-cache")
	if oerr != nil {
		tokenError(w, oerr.status, oerr.code, oerr.description)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) token(r *http.Request) (*tokenResponse, *oauthError) {
	f := r.PostForm // parsed by guard
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if clientID == "" {
		return nil, badToken("client_id is required")
	}
	app, ok := s.app(clientID)
	if !ok {
		return nil, errInvalidClient
	}
	if secret == "" {
		return nil, badToken("client_secret is required")
	}
	if !app.secretMatches(secret) {
		return nil, errInvalidClient
	}
	switch f.Get("grant_type") {
	case "":
		return nil, badToken("grant_type is required")
	case "authorization_code":
		s.pause(r)
		return s.exchangeCode(clientID, f)
	case "refresh_token":
		return s.refresh(r, clientID, f.Get("refresh_token"))
	case "client_credentials":
		s.pause(r)
		return s.clientCredentials(clientID, f.Get("scope"))
	default:
		return nil, badToken("unsupported grant_type")
	}
}

// verifierRE is RFC 7636's code_verifier: 43-128 unreserved characters.
var verifierRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

func (s *Server) exchangeCode(clientID string, f url.Values) (*tokenResponse, *oauthError) {
	redirectURI, code := f.Get("redirect_uri"), f.Get("code")
	if redirectURI == "" {
		return nil, badToken("redirect_uri is required")
	}
	if code == "" {
		return nil, badToken("code is required for given grant_type")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.codes[code]
	if c == nil || c.clientID != clientID || !s.now().Before(c.expiresAt) {
		return nil, badToken("code is invalid") // unknown, used and expired alike
	}
	if redirectURI != c.redirectURI {
		return nil, badToken("redirect_uri is invalid")
	}
	if oerr := checkVerifier(c.challenge, f); oerr != nil {
		return nil, oerr
	}
	delete(s.codes, code) // single use
	g := &grant{
		clientID: clientID, userID: c.userID, scopes: c.scopes,
		grantedAt: c.consentedAt, expiresAt: s.opts.GrantLifetime(c.consentedAt),
	}
	s.grants = append(s.grants, g)
	resp := s.issueUserTokens(g)
	resp.Scope = strings.Join(g.scopes, " ")
	s.stats.CodeExchanges++
	s.log.Info("hmrcsim: code exchanged", "client_id", clientID, "user", c.userID)
	return resp, nil
}

func checkVerifier(challenge string, f url.Values) *oauthError {
	verifier := f.Get("code_verifier")
	switch {
	case challenge == "" && f.Has("code_verifier"):
		return badToken("code_verifier is not expected")
	case challenge == "":
		return nil
	case verifier == "":
		return badToken("code_verifier is expected when code_challenge was supplied")
	case !verifierRE.MatchString(verifier):
		return badToken("code_verifier must contain valid characters of length between 43 and 128")
	}
	sum := sha256.Sum256([]byte(verifier))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
		return &oauthError{http.StatusBadRequest, "invalid_grant", "code_verifier is invalid"}
	}
	return nil
}

// refresh rotates a grant's tokens. The grant is marked in progress for the
// whole request (including any injected latency), so a concurrent refresh
// with the same token sees HMRC's "already in progress" answer.
func (s *Server) refresh(r *http.Request, clientID, token string) (*tokenResponse, *oauthError) {
	if token == "" {
		return nil, badToken("refresh_token is required")
	}
	g, oerr := s.beginRefresh(clientID, token)
	if oerr != nil {
		return nil, oerr
	}
	s.pause(r)
	return s.finishRefresh(g, token)
}

func (s *Server) beginRefresh(clientID, token string) (*grant, *oauthError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.usedRefresh[token]; g != nil && g.clientID == clientID {
		s.stats.RefreshReuses++
		s.log.Info("hmrcsim: used refresh token presented again", "client_id", clientID, "user", g.userID)
		return nil, errRefreshGrant
	}
	g := s.refreshTokens[token]
	if g == nil || g.clientID != clientID || !s.grantUsable(g) {
		return nil, errRefreshGrant
	}
	if g.refreshing {
		s.stats.InProgressRejections++
		return nil, errInProgress
	}
	g.refreshing = true
	return g, nil
}

func (s *Server) finishRefresh(g *grant, token string) (*tokenResponse, *oauthError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g.refreshing = false
	if !s.grantUsable(g) { // revoked or expired while we were "slow"
		return nil, errRefreshGrant
	}
	delete(s.refreshTokens, token)
	s.usedRefresh[token] = g
	delete(s.accessTokens, g.accessTok) // HMRC kills the previous access token at once
	resp := s.issueUserTokens(g)
	s.stats.Refreshes++
	s.log.Info("hmrcsim: refreshed", "client_id", g.clientID, "user", g.userID)
	return resp, nil
}

// grantUsable: a grant can be refreshed until it is revoked or its 18 months
// (counted from consent, never from the last refresh) are up.
func (s *Server) grantUsable(g *grant) bool {
	return !g.revoked && s.now().Before(g.expiresAt)
}

// issueUserTokens gives g a fresh access/refresh pair; callers hold s.mu.
func (s *Server) issueUserTokens(g *grant) *tokenResponse {
	g.accessTok, g.refreshToken = randomHex(), randomHex()
	s.accessTokens[g.accessTok] = &accessToken{
		clientID: g.clientID, grant: g, scopes: g.scopes,
		expiresAt: s.now().Add(s.opts.AccessTokenLifetime),
	}
	s.refreshTokens[g.refreshToken] = g
	return &tokenResponse{
		AccessToken: g.accessTok, TokenType: "bearer", RefreshToken: g.refreshToken,
		ExpiresIn: int64(s.opts.AccessTokenLifetime / time.Second),
	}
}

// clientCredentials issues an application-restricted token: no refresh token.
func (s *Server) clientCredentials(clientID, rawScope string) (*tokenResponse, *oauthError) {
	scopes, ok := parseScopes(rawScope)
	if !ok {
		return nil, &oauthError{http.StatusBadRequest, "invalid_scope", "scope is invalid"}
	}
	tok := randomHex()
	s.mu.Lock()
	s.accessTokens[tok] = &accessToken{
		clientID: clientID, scopes: scopes,
		expiresAt: s.now().Add(s.opts.AccessTokenLifetime),
	}
	s.mu.Unlock()
	return &tokenResponse{
		AccessToken: tok, TokenType: "bearer",
		ExpiresIn: int64(s.opts.AccessTokenLifetime / time.Second),
		Scope:     strings.Join(scopes, " "),
	}, nil
}

// ---- Bearer tokens on API calls ----

func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// lookupToken resolves a bearer token, writing HMRC's 401 when it is missing,
// unknown, expired, superseded by a refresh or revoked.
func (s *Server) lookupToken(w http.ResponseWriter, r *http.Request) (accessToken, bool) {
	tok, ok := bearerToken(r)
	if !ok {
		writeAPIError(w, http.StatusUnauthorized, "MISSING_CREDENTIALS", "Authentication information is not provided")
		return accessToken{}, false
	}
	s.mu.Lock()
	at := s.accessTokens[tok]
	valid := at != nil && s.now().Before(at.expiresAt) &&
		(at.grant == nil || (!at.grant.revoked && at.grant.accessTok == tok))
	var copied accessToken
	if valid {
		copied = *at
	}
	s.mu.Unlock()
	if !valid {
		writeAPIError(w, http.StatusUnauthorized, "INVALID_CREDENTIALS", "Invalid Authentication information provided")
		return accessToken{}, false
	}
	return copied, true
}

// apiUser authorises a user-restricted API call. scope "" accepts any
// user-restricted token. It returns a copy of the token's test user.
func (s *Server) apiUser(w http.ResponseWriter, r *http.Request, scope string) (*TestUser, bool) {
	u, _, ok := s.apiCaller(w, r, scope)
	return u, ok
}

// apiCaller is apiUser that also names the calling application (its
// client_id): HMRC keeps sandbox test data per vendor.
func (s *Server) apiCaller(w http.ResponseWriter, r *http.Request, scope string) (*TestUser, string, bool) {
	at, ok := s.lookupToken(w, r)
	if !ok {
		return nil, "", false
	}
	if at.grant == nil {
		writeAPIError(w, http.StatusUnauthorized, "INCORRECT_ACCESS_TOKEN_TYPE", "The access token type used is not supported when invoking the API")
		return nil, "", false
	}
	if scope != "" && !slices.Contains(at.scopes, scope) {
		writeAPIError(w, http.StatusForbidden, "INVALID_SCOPE", "Cannot access the required resource. Ensure this token has all the required scopes.")
		return nil, "", false
	}
	s.mu.Lock()
	u := s.users[at.grant.userID]
	var copied TestUser
	if u != nil {
		copied = *u
		copied.ServiceNames = slices.Clone(u.ServiceNames)
	}
	s.mu.Unlock()
	if u == nil { // the user was replaced or removed since the grant
		writeAPIError(w, http.StatusUnauthorized, "INVALID_CREDENTIALS", "Invalid Authentication information provided")
		return nil, "", false
	}
	return &copied, at.clientID, true
}

// apiApplication authorises an application-restricted call and returns the
// calling application's client_id. User tokens are refused, as on HMRC.
func (s *Server) apiApplication(w http.ResponseWriter, r *http.Request) (string, bool) {
	at, ok := s.lookupToken(w, r)
	if !ok {
		return "", false
	}
	if at.grant != nil {
		writeAPIError(w, http.StatusUnauthorized, "INCORRECT_ACCESS_TOKEN_TYPE", "The access token type used is not supported when invoking the API")
		return "", false
	}
	return at.clientID, true
}

// requireAccept enforces HMRC's versioned Accept header, e.g. version "1.0"
// for application/vnd.hmrc.1.0+json.
func requireAccept(w http.ResponseWriter, r *http.Request, version string) bool {
	want := "application/vnd.hmrc." + version + "+json"
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mediaType, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mediaType), want) {
			return true
		}
	}
	writeAPIError(w, http.StatusNotAcceptable, "ACCEPT_HEADER_INVALID", "The accept header is missing or invalid")
	return false
}
