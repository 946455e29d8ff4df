package web

// One-time recovery codes: ten codes given when an authenticator app is
// added (and again, replacing them, from the security page), each good
// once at the sign-in code step instead of a code from the app, for a
// landlord who lost the phone. They are shown once and kept only as
// hashes; the sign-in throttle counts a wrong one as it counts a wrong app
// code.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/mtdconnect/mtdconnect"
)

const (
	recoveryCodeCount = 10
	// recoveryCodeChars base32 characters: 80 random bits, beyond
	// guessing even from the hashes (so SHA-256 suffices, no slow hash).
	recoveryCodeChars = 16
)

var recoveryBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// errRecoveryWrong: no unused recovery code of the user matches.
var errRecoveryWrong = errors.New("web: recovery code wrong or used")

// newRecoveryCodes returns fresh codes as the landlord sees them
// (ABCD-EFGH-JKLM-NPQR) and their hashes for userID, to store.
func newRecoveryCodes(userID int64) (codes []string, hashes [][]byte) {
	for range recoveryCodeCount {
		b := make([]byte, recoveryCodeChars*5/8)
		rand.Read(b) // never fails (crypto/rand panics rather than return short)
		c := recoveryBase32.EncodeToString(b)
		codes = append(codes, c[0:4]+"-"+c[4:8]+"-"+c[8:12]+"-"+c[12:16])
		hashes = append(hashes, recoveryHash(userID, c))
	}
	return codes, hashes
}

// recoveryHash binds a normalised code to its user: the same code of two
// users hashes apart.
func recoveryHash(userID int64, code string) []byte {
	h := sha256.Sum256([]byte("mtdconnect recovery code\x00" + strconv.FormatInt(userID, 10) + "\x00" + code))
	return h[:]
}

// normaliseRecoveryCode reads a recovery code as typed (any case, spaces
// or hyphens anywhere); false when it is not one.
func normaliseRecoveryCode(input string) (string, bool) {
	if len(input) > 64 {
		return "", false
	}
	code := strings.ToUpper(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, input))
	if len(code) != recoveryCodeChars {
		return "", false
	}
	if _, err := recoveryBase32.DecodeString(code); err != nil {
		return "", false
	}
	return code, true
}

// useRecoveryCode uses up u's recovery code, atomically: errRecoveryWrong
// when none matches.
func (s *Server) useRecoveryCode(r *http.Request, u *mtdconnect.User, code string) error {
	err := s.store.UseRecoveryCode(r.Context(), u.ID, recoveryHash(u.ID, code))
	if errors.Is(err, mtdconnect.ErrNotFound) {
		return errRecoveryWrong
	}
	return err
}

// recoveryPage shows new recovery codes, once.
type recoveryPage struct {
	Codes []string
	New   bool // the authenticator app was just added
}

// giveRecoveryCodes replaces u's recovery codes and shows the new ones.
func (s *Server) giveRecoveryCodes(w http.ResponseWriter, r *http.Request, u *mtdconnect.User, afterEnrol bool) {
	codes, hashes := newRecoveryCodes(u.ID)
	if err := s.store.SetRecoveryCodes(r.Context(), u.ID, hashes, s.now()); err != nil {
		s.serverError(w, r, fmt.Errorf("web: keep recovery codes: %w", err))
		return
	}
	s.log.Info("recovery codes issued", "user_id", u.ID, "count", len(codes))
	// Shown once: the page must not be kept by the browser or a proxy.
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "security_recovery", "Your recovery codes", recoveryPage{Codes: codes, New: afterEnrol})
}

// handleRecoveryCodes replaces the recovery codes, given a current code
// from the authenticator app (a borrowed session alone cannot read new
// codes), and shows the new ones.
func (s *Server) handleRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	if s.sealer == nil || len(u.TOTPSecret) == 0 {
		s.setFlash(w, flash{Kind: "error", Text: "Recovery codes come with an authenticator app: add one first."})
		http.Redirect(w, r, securityPath, http.StatusSeeOther)
		return
	}
	if !s.checkCurrentCode(w, r, u, " No new recovery codes were made.") {
		return
	}
	s.giveRecoveryCodes(w, r, u, false)
}
