package fraud

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The originating device: this host for batch work (HostBatchDevice), or
// the landlord's browser as /static/fph.js reports it (ParseDeviceJSON,
// ParseDeviceCookie).

// HostBatchDevice describes this host as the originating device for
// BATCH_PROCESS_DIRECT: the OS user, every IP address and MAC address of the
// interfaces that are up, loopback excepted (net.Interfaces), the OS family and version, the manufacturer and
// model where the OS exposes them (Linux DMI), and the local UTC offset. Call
// it immediately before each request: LocalIPsAt is now.
//
// If something required cannot be read the error says what, and the device
// returned alongside it holds whatever could be read, so a caller that has
// followed HMRC's missing-data process can still use it.
func HostBatchDevice() (*BatchDevice, error) {
	now := time.Now()
	_, east := now.Zone()
	d := &BatchDevice{
		LocalIPsAt:            now,
		OSFamily:              osFamily(runtime.GOOS),
		TimezoneOffsetMinutes: -east / 60,
	}
	var errs []error

	if u, err := user.Current(); err == nil && u.Username != "" {
		d.OSUser = u.Username
	} else if name := cmp.Or(os.Getenv("USER"), os.Getenv("USERNAME")); name != "" {
		d.OSUser = name
	} else {
		errs = append(errs, fmt.Errorf("OS user: not found (%v) and $USER is unset", err))
	}

	ifaces, err := net.Interfaces()
	if err != nil {
		errs = append(errs, fmt.Errorf("network interfaces: %w", err))
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback != 0 || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		if hw := ifc.HardwareAddr.String(); hw != "" && strings.Trim(hw, "0:") != "" && !slices.Contains(d.MACAddresses, hw) {
			d.MACAddresses = append(d.MACAddresses, hw)
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			var ip net.IP
			switch v := a.(type) {
			case *net.IPNet:
				ip = v.IP
			case *net.IPAddr:
				ip = v.IP
			}
			if ip == nil || ip.IsLoopback() || ip.IsUnspecified() {
				continue
			}
			if s := ip.String(); !slices.Contains(d.LocalIPs, s) {
				d.LocalIPs = append(d.LocalIPs, s)
			}
		}
	}
	if len(d.LocalIPs) == 0 && err == nil {
		errs = append(errs, errors.New("no non-loopback IP address on any interface"))
	}

	d.OSVersion, d.DeviceManufacturer, d.DeviceModel = hostDetails()
	if d.OSVersion == "" {
		errs = append(errs, fmt.Errorf("OS version: not readable on %s", runtime.GOOS))
	}
	if len(errs) > 0 {
		return d, fmt.Errorf("fraud: host batch device: %w", errors.Join(errs...))
	}
	return d, nil
}

func osFamily(goos string) string {
	switch goos {
	case "linux":
		return "Linux"
	case "windows":
		return "Windows"
	case "darwin":
		return "MacOS"
	case "freebsd":
		return "FreeBSD"
	case "openbsd":
		return "OpenBSD"
	case "netbsd":
		return "NetBSD"
	default:
		return goos
	}
}

// hostDetails reads the OS version and, where exposed, the manufacturer
// and model. Only Linux is supported; elsewhere all three are empty.
func hostDetails() (version, manufacturer, model string) {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	if runtime.GOOS != "linux" {
		return "", "", ""
	}
	version = read("/proc/sys/kernel/osrelease")
	if version == "" {
		for line := range strings.SplitSeq(read("/etc/os-release"), "\n") {
			if v, ok := strings.CutPrefix(line, "VERSION_ID="); ok {
				version = strings.Trim(v, `"'`)
			}
		}
	}
	return version, read("/sys/class/dmi/id/sys_vendor"), read("/sys/class/dmi/id/product_name")
}

// deviceJSON is what /static/fph.js writes into hidden "fph" inputs and,
// base64url-encoded, into the mtdconnect_fph cookie.
type deviceJSON struct {
	UA      string `json:"ua"`
	Screens []struct {
		Width         int     `json:"width"`
		Height        int     `json:"height"`
		ScalingFactor float64 `json:"scalingFactor"`
		ColourDepth   int     `json:"colourDepth"`
	} `json:"screens"`
	WindowWidth  int  `json:"windowWidth"`
	WindowHeight int  `json:"windowHeight"`
	TZOffset     *int `json:"tzOffset"`
}

// Limits on browser-reported data, so a tampered form or cookie cannot
// inflate a header.
const (
	maxDeviceJSON = 8 << 10
	maxUALength   = 2048
	maxScreens    = 16
	maxPixels     = 1 << 20
)

// CookieName is the cookie /static/fph.js sets with the device JSON,
// base64url-encoded (see ParseDeviceCookie).
const CookieName = "mtdconnect_fph"

// ParseDeviceJSON parses and validates the JSON /static/fph.js collects:
//
//	{"ua":"Mozilla/5.0 …","screens":[{"width":1920,"height":1080,"scalingFactor":1,"colourDepth":24}],
//	 "windowWidth":1256,"windowHeight":803,"tzOffset":-60}
//
// ua must be non-empty, every size and depth a positive whole number,
// scalingFactor positive, tzOffset present and a plausible UTC offset.
// Unknown fields and trailing data are rejected. DeviceID is left empty: it
// comes from the device-ID cookie.
func ParseDeviceJSON(b []byte) (Device, error) {
	if len(b) > maxDeviceJSON {
		return Device{}, fmt.Errorf("fraud: device data is %d bytes, more than %d", len(b), maxDeviceJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var in deviceJSON
	if err := dec.Decode(&in); err != nil {
		return Device{}, fmt.Errorf("fraud: device data: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Device{}, errors.New("fraud: device data: trailing data after the JSON object")
	}

	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case strings.TrimSpace(in.UA) == "":
		bad("ua is empty")
	case len(in.UA) > maxUALength:
		bad("ua is longer than %d bytes", maxUALength)
	}
	if len(in.Screens) == 0 || len(in.Screens) > maxScreens {
		bad("screens must list 1 to %d screens, not %d", maxScreens, len(in.Screens))
	}
	pixels := func(name string, n int) {
		if n <= 0 || n > maxPixels {
			bad("%s must be a positive whole number, not %d", name, n)
		}
	}
	d := Device{JSUserAgent: in.UA, WindowWidth: in.WindowWidth, WindowHeight: in.WindowHeight}
	for i, s := range in.Screens {
		pixels(fmt.Sprintf("screens[%d].width", i), s.Width)
		pixels(fmt.Sprintf("screens[%d].height", i), s.Height)
		if s.ColourDepth <= 0 || s.ColourDepth > 256 {
			bad("screens[%d].colourDepth must be a positive number of bits, not %d", i, s.ColourDepth)
		}
		if !(s.ScalingFactor > 0) || s.ScalingFactor > 100 {
			bad("screens[%d].scalingFactor must be positive, not %v", i, s.ScalingFactor)
		}
		d.Screens = append(d.Screens, Screen{Width: s.Width, Height: s.Height, ScalingFactor: s.ScalingFactor, ColourDepth: s.ColourDepth})
	}
	pixels("windowWidth", in.WindowWidth)
	pixels("windowHeight", in.WindowHeight)
	switch {
	case in.TZOffset == nil:
		bad("tzOffset is missing")
	case *in.TZOffset < -maxTZOffset || *in.TZOffset > maxTZOffset:
		bad("tzOffset %d is not a UTC offset in minutes", *in.TZOffset)
	default:
		d.TimezoneOffsetMinutes = *in.TZOffset
	}
	if len(errs) > 0 {
		return Device{}, fmt.Errorf("fraud: device data: %w", errors.Join(errs...))
	}
	return d, nil
}

// ParseDeviceCookie decodes the mtdconnect_fph cookie value (base64url of
// the JSON ParseDeviceJSON reads, padding optional) and parses it.
func ParseDeviceCookie(value string) (Device, error) {
	if len(value) > base64.RawURLEncoding.EncodedLen(maxDeviceJSON)+3 {
		return Device{}, errors.New("fraud: device cookie is too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(value, "="))
	if err != nil {
		return Device{}, fmt.Errorf("fraud: device cookie: %w", err)
	}
	return ParseDeviceJSON(b)
}
