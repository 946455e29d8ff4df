package mtdconnect

import "time"

// ConnectSessionStatus is where a connect session is: pending until the
// landlord comes back from HMRC (or the link is not used in time), then one
// of the final statuses.
type ConnectSessionStatus string

// The statuses of a connect session.
const (
	ConnectPending   ConnectSessionStatus = "pending"
	ConnectConnected ConnectSessionStatus = "connected"
	ConnectDenied    ConnectSessionStatus = "denied" // the landlord did not grant authority (or cancelled)
	ConnectFailed    ConnectSessionStatus = "failed" // ConnectSession.Error says why
	ConnectExpired   ConnectSessionStatus = "expired"
)

// Connect display modes: how the landlord's browser opened the link, and so
// how it goes back to the platform.
const (
	DisplayRedirect = "redirect" // back to the return URL, with the outcome in its query
	DisplayPopup    = "popup"    // the outcome posted to window.opener, then the window closes
)

// Why a connect session failed or expired (ConnectSession.Error), for
// programs.
const (
	ConnectErrorLinkExpired     = "link_expired"     // Continue was not pressed in time
	ConnectErrorHMRCExpired     = "hmrc_expired"     // more than 10 minutes at HMRC
	ConnectErrorOtherBrowser    = "other_browser"    // HMRC's answer came to another browser
	ConnectErrorCodeRefused     = "code_refused"     // HMRC refused the authorisation code
	ConnectErrorHMRCUnavailable = "hmrc_unavailable" // HMRC could not be reached
	ConnectErrorInternal        = "internal"
	ConnectErrorAccessDenied    = "access_denied" // HMRC's error when the landlord declined
	ConnectErrorCancelled       = "cancelled"     // the landlord cancelled on the connect page
)

// ConnectSession is a platform's single-use link for one landlord to
// connect one purpose to HMRC without signing in to mtdconnect. Only a hash
// of its token (the link's only credential) is stored.
type ConnectSession struct {
	ID        string // public: "cs_…"; the platform asks for the outcome with it
	TokenHash []byte
	UserID    int64
	Purpose   Purpose
	ReturnURL string
	Display   string // DisplayRedirect or DisplayPopup
	Status    ConnectSessionStatus
	Error     string // why it failed, denied or expired; empty otherwise
	CreatedBy int64  // the API key that created it
	// State is the pending authorisation's state, set when the landlord
	// pressed Continue to HMRC (the link is then used); BrowserHash is the
	// hash of the cookie of the browser that pressed it, which HMRC's
	// answer must come back to.
	State       string
	BrowserHash []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time // the link works until then
	StartedAt   time.Time // when Continue was pressed; zero before
	FinishedAt  time.Time // when it left pending; zero before
}

// AllowedReturnURL is a return URL (an origin, or a URL prefix) an
// administrator allowed on the admin page.
type AllowedReturnURL struct {
	URL     string
	AddedBy int64 // the administrator; 0 for the command line
	AddedAt time.Time
}
