package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Policy says which receivers an administrator allows besides public https
// ones. Both are for development and private networks only.
type Policy struct {
	// AllowLoopback lets endpoints be http:// or https:// on a loopback
	// address (localhost, 127.0.0.0/8, ::1).
	AllowLoopback bool
	// AllowPrivate lets endpoints reach private address ranges (RFC 1918,
	// unique local, link-local…), which are otherwise refused so that an
	// endpoint cannot make the service call into its own network.
	AllowPrivate bool
}

// URLError is an endpoint URL refused, saying why in words for the caller.
type URLError struct{ Message string }

func (e *URLError) Error() string { return "webhook: " + e.Message }

// maxURL bounds an endpoint's URL.
const maxURL = 2000

// CheckURL says whether raw may be an endpoint under p: an absolute
// https URL (http only on loopback when allowed), without user info or a
// fragment, whose host, when an IP address, is public (or allowed). A host
// name is checked again for each delivery, at dial time, against every
// address it resolves to.
func (p Policy) CheckURL(raw string) (*url.URL, error) {
	if len(raw) > maxURL {
		return nil, &URLError{Message: fmt.Sprintf("the URL is longer than %d bytes", maxURL)}
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, &URLError{Message: "the URL must be absolute, such as https://platform.example/hooks/mtd"}
	}
	if u.User != nil || u.Fragment != "" {
		return nil, &URLError{Message: "the URL must not hold a user, a password or a fragment"}
	}
	host := u.Hostname()
	loopback := isLoopbackName(host)
	if ip, err := netip.ParseAddr(host); err == nil {
		loopback = ip.Unmap().IsLoopback()
		if err := p.checkAddr(ip); err != nil {
			return nil, err
		}
	} else if loopback && !p.AllowLoopback {
		return nil, &URLError{Message: "loopback receivers are not allowed here (an administrator allows them for development)"}
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback && p.AllowLoopback:
	case u.Scheme == "http":
		return nil, &URLError{Message: "the URL must be https (http only for a loopback receiver, when allowed)"}
	default:
		return nil, &URLError{Message: "the URL must be https"}
	}
	return u, nil
}

func isLoopbackName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// checkAddr refuses an address a receiver must not have under p.
func (p Policy) checkAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	switch {
	case ip.IsLoopback():
		if !p.AllowLoopback {
			return &URLError{Message: "loopback receivers are not allowed here (an administrator allows them for development)"}
		}
	case ip.IsUnspecified(), ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return &URLError{Message: "the receiver's address " + ip.String() + " cannot receive"}
	case ip.IsPrivate(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast(), isSpecial(ip):
		if !p.AllowPrivate {
			return &URLError{Message: "the receiver's address " + ip.String() + " is private: not allowed here"}
		}
	}
	return nil
}

// special are ranges that are neither public nor covered by netip's
// predicates: carrier-grade NAT, "this network", benchmarking, IPv4
// reserved, NAT64's well-known prefix (it could map onto a private
// address) and the 6to4 relays.
var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("2002::/16"),
}

func isSpecial(ip netip.Addr) bool {
	for _, p := range special {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// errRefusedAddr is the dial refused by the policy.
var errRefusedAddr = errors.New("webhook: the receiver's address is not allowed")

// Timeout bounds one delivery attempt, from dialling to the answer's end.
const Timeout = 15 * time.Second

// HTTPClient returns the client deliveries are sent with: the policy is
// checked on the address actually dialled (after DNS, so a name that
// resolves to a private address is refused however it resolves), redirects
// are not followed (the 3xx is the answer), and an attempt ends after
// Timeout.
func (p Policy) HTTPClient() *http.Client {
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %s", errRefusedAddr, address)
			}
			if err := p.checkAddr(ap.Addr()); err != nil {
				return fmt.Errorf("%w: %v", errRefusedAddr, err)
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the check
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: Timeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
