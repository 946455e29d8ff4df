package web

import (
	"fmt"
	"html/template"
	"strings"

	qr "github.com/piglig/go-qr"
)

// qrSVG draws text as a QR code in inline SVG: no request leaves the page
// (the policy allows images from this site only) and no inline style is
// needed (presentation attributes only). The quiet zone is 4 modules, as
// the standard asks.
func qrSVG(text, label string) (template.HTML, error) {
	code, err := qr.EncodeText(text, qr.Medium)
	if err != nil {
		return "", fmt.Errorf("web: QR code: %w", err)
	}
	n := code.Size()
	var path strings.Builder
	for y := range n {
		for x := range n {
			if code.Module(x, y) {
				fmt.Fprintf(&path, "M%d %dh1v1h-1z", x+4, y+4)
			}
		}
	}
	return template.HTML(fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" class="qr" id="totp-qr" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" shape-rendering="crispEdges">`+
		`<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		n+8, n+8, (n+8)*5, (n+8)*5, template.HTMLEscapeString(label), n+8, n+8, path.String())), nil
}
