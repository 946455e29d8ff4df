package web

// TOTP (RFC 6238) for the optional second factor at sign-in: HMAC-SHA1,
// 6 digits, 30-second steps, the setting every authenticator app supports.
// It is short enough to keep here rather than take a dependency.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mtdconnect/mtdconnect/seal"
)

const (
	totpDigits     = 6
	totpPeriod     = 30 // seconds
	totpSecretSize = 20 // bytes: RFC 4226 recommends 160 bits
	totpIssuer     = "mtdconnect"
)

// Why a code is refused; codeMessage says it in words for the landlord.
var (
	errTOTPFormat = errors.New("web: TOTP code is not 6 digits")
	errTOTPWrong  = errors.New("web: TOTP code is wrong")
	errTOTPReused = errors.New("web: TOTP code already used")
)

// codeMessage is what the landlord reads when a code is refused.
func codeMessage(err error) string {
	switch {
	case errors.Is(err, errTOTPFormat):
		return "Enter the 6-digit code from your authenticator app, for example 123456."
	case errors.Is(err, errRecoveryWrong):
		return "That recovery code is wrong, or was used already: each one works once. Check it, or use another of your codes."
	case errors.Is(err, errTOTPReused):
		return "That code has already been used. Wait for your authenticator app to show a new code, then enter it."
	default:
		return "That code is wrong. Check that it is the code for mtdconnect in your authenticator app, and enter the one it shows now."
	}
}

var totpBase32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a fresh random secret for an authenticator app.
func NewTOTPSecret() []byte {
	b := make([]byte, totpSecretSize)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return b
}

// TOTPCode is the 6-digit code of secret at t, as the landlord's
// authenticator app shows it.
func TOTPCode(secret []byte, t time.Time) string {
	return totpCode(secret, totpStep(t), totpDigits)
}

// totpStep is the 30-second step t falls in (RFC 6238's T, with T0 = 0).
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpCode is RFC 4226's HOTP of the step, with dynamic truncation to the
// given number of digits (RFC 6238's own test vectors use 8).
func totpCode(secret []byte, step int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// normaliseCode accepts the code as apps show it ("123 456") or typed with
// a stray space or dash, and returns its 6 digits.
func normaliseCode(input string) (string, bool) {
	if len(input) > 32 {
		return "", false
	}
	code := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, input)
	if len(code) != totpDigits {
		return "", false
	}
	for _, c := range []byte(code) {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return code, true
}

// checkTOTP checks a code typed at now against secret. It accepts the
// current step and one either side, for a phone's clock that drifts, and
// refuses a step at or before lastStep, so no code is accepted twice (an
// observed code is worthless once used). It returns the step matched,
// which the caller stores as the new lastStep.
func checkTOTP(secret []byte, input string, now time.Time, lastStep int64) (int64, error) {
	code, ok := normaliseCode(input)
	if !ok {
		return 0, errTOTPFormat
	}
	cur := totpStep(now)
	matched, found := int64(0), false
	// Every candidate is computed and compared in constant time, whatever
	// matched, so timing says nothing about the code.
	for step := cur - 1; step <= cur+1; step++ {
		if subtle.ConstantTimeCompare([]byte(totpCode(secret, step, totpDigits)), []byte(code)) == 1 {
			matched, found = step, true // the latest match wins
		}
	}
	if !found {
		return 0, errTOTPWrong
	}
	if matched <= lastStep {
		return 0, errTOTPReused
	}
	return matched, nil
}

// TOTPKey is the secret as the landlord types it into an authenticator
// app: base32, in groups of four.
func TOTPKey(secret []byte) string {
	s := totpBase32.EncodeToString(secret)
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// TOTPURI is the otpauth:// URI (Google Authenticator's Key Uri Format)
// that adds the account to an authenticator app in one go.
func TOTPURI(email string, secret []byte) string {
	q := url.Values{
		"secret":    {totpBase32.EncodeToString(secret)},
		"issuer":    {totpIssuer},
		"algorithm": {"SHA1"},
		"digits":    {strconv.Itoa(totpDigits)},
		"period":    {strconv.Itoa(totpPeriod)},
	}
	return "otpauth://totp/" + url.PathEscape(totpIssuer) + ":" + url.PathEscape(email) + "?" + q.Encode()
}

// totpAD is the associated data of a user's sealed TOTP secret: it opens
// only in that user's row.
func totpAD(userID int64) []byte { return seal.AD("user", strconv.FormatInt(userID, 10), "totp") }

// SealTOTPSecret seals secret for the user's row (User.TOTPSecret).
func SealTOTPSecret(s *seal.Sealer, userID int64, secret []byte) ([]byte, error) {
	ct, err := s.Seal(secret, totpAD(userID))
	if err != nil {
		return nil, fmt.Errorf("web: seal TOTP secret of user %d: %w", userID, err)
	}
	return ct, nil
}

func openTOTPSecret(s *seal.Sealer, userID int64, sealed []byte) ([]byte, error) {
	secret, err := s.Open(sealed, totpAD(userID))
	if err != nil {
		return nil, fmt.Errorf("web: open TOTP secret of user %d: %w", userID, err)
	}
	return secret, nil
}

// totpReference is the unique-reference of a landlord's authenticator app
// in Gov-Client-Multi-Factor: a hash over the user and the secret, so it
// stays the same for as long as that app is enrolled, changes when a new
// one is, and reveals nothing (the secret is 160 random bits).
func totpReference(userID int64, secret []byte) string {
	h := sha256.New()
	h.Write([]byte("mtdconnect-totp\x00" + strconv.FormatInt(userID, 10) + "\x00"))
	h.Write(secret)
	return hex.EncodeToString(h.Sum(nil))
}
