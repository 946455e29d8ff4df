package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// headerFacts are where the header's links sit and what colours they
// have, at one width.
type headerFacts struct {
	Links []struct {
		Text   string  `json:"text"`
		Color  string  `json:"color"`
		Back   string  `json:"back"` // the nearest non-transparent background up the tree
		Left   float64 `json:"left"`
		Right  float64 `json:"right"`
		Top    float64 `json:"top"`
		Bottom float64 `json:"bottom"`
	} `json:"links"`
	BarTop     float64 `json:"barTop"`
	BarBottom  float64 `json:"barBottom"`
	BrandRight float64 `json:"brandRight"`
	BrandTop   float64 `json:"brandTop"`
	BrandBot   float64 `json:"brandBottom"`
	Inner      float64 `json:"innerWidth"`
	MenuOpen   bool    `json:"menuOpen"`
}

const headerFactsJS = `(() => {
  const bg = el => {
    for (; el; el = el.parentElement) {
      const c = getComputedStyle(el).backgroundColor;
      if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') return c;
    }
    return 'rgb(255, 255, 255)';
  };
  const bar = document.querySelector('header').getBoundingClientRect();
  const brand = document.querySelector('header .brand').getBoundingClientRect();
  const links = [...document.querySelectorAll('header nav a, header .signout button')]
    .filter(a => a.getClientRects().length > 0)
    .map(a => { const r = a.getBoundingClientRect();
      return {text: a.textContent.trim(), color: getComputedStyle(a).color, back: bg(a),
        left: r.left, right: r.right, top: r.top, bottom: r.bottom}; });
  return {links, barTop: bar.top, barBottom: bar.bottom, brandRight: brand.right, brandTop: brand.top,
    brandBottom: brand.bottom, innerWidth: window.innerWidth,
    menuOpen: !!document.querySelector('header nav a') && document.querySelector('header nav a').getClientRects().length > 0};
})()`

// checkHeader fails the test unless the header's visible links are white
// on the black bar, inside the bar and the window, and (on a wide screen)
// clear of the product name, in one row.
func (b *browserRun) checkHeader(name string, width int64) headerFacts {
	b.t.Helper()
	b.settled(name)
	f, err := chromedp.Run(b.ctx, chromedp.Evaluate[headerFacts](headerFactsJS))
	if err != nil {
		b.t.Fatalf("%s: header: %v", name, err)
	}
	for _, l := range f.Links {
		if l.Color != "rgb(255, 255, 255)" || l.Back != "rgb(11, 12, 12)" {
			b.t.Errorf("%s at %dpx: header link %q is %s on %s, want white on the black bar", name, width, l.Text, l.Color, l.Back)
		}
		if l.Left < 0 || l.Right > f.Inner || l.Top < f.BarTop || l.Bottom > f.BarBottom {
			b.t.Errorf("%s at %dpx: header link %q at x %v–%v, y %v–%v is outside the bar (y %v–%v) or the window (%v wide)",
				name, width, l.Text, l.Left, l.Right, l.Top, l.Bottom, f.BarTop, f.BarBottom, f.Inner)
		}
		if l.Left < f.BrandRight && l.Top < f.BrandBot && l.Bottom > f.BrandTop {
			b.t.Errorf("%s at %dpx: header link %q runs into the product name", name, width, l.Text)
		}
	}
	// On a wide screen the menu is one row, not wrapped onto a second.
	if width >= 1000 {
		for _, l := range f.Links[1:] {
			if l.Top != f.Links[0].Top && l.Text != "Sign out" {
				b.t.Errorf("%s at %dpx: the menu wraps: %q is at y %v, %q at %v", name, width, l.Text, l.Top, f.Links[0].Text, f.Links[0].Top)
			}
		}
	}
	return f
}

// TestBrowserAxeFindsProblems proves the accessibility check is not
// vacuous: a page with an image without alt text, an unlabelled field and
// faint grey text fails it.
func TestBrowserAxeFindsProblems(t *testing.T) {
	requireAxe(t)
	b := newBrowserRun(t, 60*time.Second, nil)
	b.step("open a bad page", chromedp.Navigate(`data:text/html,<!doctype html><html lang="en"><title>Bad</title><main><h1>Bad</h1>`+
		`<img src="x.png"><input type="text"><p style="color:%23aaa;background:%23fff">faint</p></main></html>`))
	found := map[string]bool{}
	for _, v := range b.axeViolations("bad page") {
		found[v.ID] = true
	}
	for _, want := range []string{"image-alt", "label", "color-contrast"} {
		if !found[want] {
			t.Errorf("axe-core did not report %s; it reported %v", want, found)
		}
	}
}

// TestBrowserPagesLayout walks the pages every landlord sees at 375 px and
// 1280 px: the header is GOV.UK's (on a phone the menu is behind a Menu
// button and opens inside the black bar), nothing scrolls sideways, and
// axe-core finds nothing on any page.
func TestBrowserPagesLayout(t *testing.T) {
	requireAxe(t)
	b := newBrowserRun(t, 180*time.Second, nil)

	b.step("open sign-in page",
		chromedp.Navigate(b.baseURL+"/signin"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
	)
	b.checkPage("sign-in page")
	b.step("sign in",
		chromedp.SendKeys(chromedp.CSS(`#email`), demoAdminEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), demoAdminPassword),
		chromedp.Click(chromedp.Search(`//form[@action="/signin"]//button[contains(., 'Sign in')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
	)

	// The header at both widths, on a page with the whole menu (the
	// demo administrator's, with the admin pages).
	for _, w := range checkWidths {
		b.step("resize", chromedp.EmulateViewport(w, 800))
		f := b.checkHeader("settings page", w)
		if w < 600 {
			if f.MenuOpen {
				t.Errorf("at %dpx the menu shows before the Menu button is pressed", w)
			}
			b.step("open the menu",
				chromedp.Click(chromedp.CSS(`header button.menu-button`)),
				chromedp.WaitVisible(chromedp.Search(`//header//nav//a[.='VAT returns']`)),
			)
			if exp := b.read("aria-expanded", chromedp.Evaluate[string](`document.querySelector('header button.menu-button').getAttribute('aria-expanded')`)); exp != "true" {
				t.Errorf("the Menu button's aria-expanded = %q once open", exp)
			}
			f = b.checkHeader("settings page, menu open", w)
			if len(f.Links) < 7 {
				t.Errorf("at %dpx the open menu shows %d links, want the 6 pages and Sign out", w, len(f.Links))
			}
			b.checkPage("settings page, menu open")
			b.step("the menu's links work",
				chromedp.EmulateViewport(w, 800),
				chromedp.Click(chromedp.Search(`//header//nav//a[.='VAT returns']`)),
				chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'VAT returns')]`)),
				chromedp.NavigateBack(),
				chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
			)
		} else if len(f.Links) < 7 {
			t.Errorf("at %dpx the header shows %d links, want the 6 pages and Sign out", w, len(f.Links))
		}
	}

	for _, p := range []struct{ path, h1 string }{
		{"/settings/hmrc", "HMRC connection"},
		{"/settings/hmrc?purpose=vat", "HMRC connection"},
		{"/settings/security", "Sign-in security"},
		{"/settings/security/totp", "authenticator"},
		{"/quarterly", "Quarterly updates"},
		{"/tax-year", "Your tax year"},
		{"/vat", "VAT returns"},
		{"/admin/hmrc", "HMRC application"},
		{"/admin/api-keys", "API keys"},
		{"/admin/connect", "Connect"},
		{"/admin/webhooks", "Webhooks"},
	} {
		b.step("open "+p.path,
			chromedp.Navigate(b.baseURL+p.path),
			chromedp.WaitVisible(chromedp.CSS(`h1`)),
		)
		if h1 := b.text("h1", "h1"); !strings.Contains(h1, p.h1) {
			t.Errorf("%s: h1 %q lacks %q", p.path, h1, p.h1)
		}
		b.checkPage(p.path)
	}

	// The 404 page, in the site's style with the menu.
	b.step("open an unknown page",
		chromedp.Navigate(b.baseURL+"/no-such-page"),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'Page not found')]`)),
	)
	b.mustSay("404 page", "header", "Sign out")
	b.checkPage("404 page")

	// An error summary takes the focus; its link takes it to the field.
	b.step("a wrong NINO",
		chromedp.Navigate(b.baseURL+"/settings/hmrc"),
		chromedp.WaitVisible(chromedp.CSS(`#nino`)),
		chromedp.SendKeys(chromedp.CSS(`#nino`), "QQ 12"),
		chromedp.Click(chromedp.Search(`//main//button[contains(., 'National Insurance number')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#error-summary`)),
	)
	if focus := b.read("focus", chromedp.Evaluate[string](`document.activeElement.id`)); focus != "error-summary" {
		t.Errorf("after the refusal the focus is on %q, want the error summary", focus)
	}
	b.checkPage("settings, NINO refused")
	b.step("follow the summary's link", chromedp.Click(chromedp.CSS(`#error-summary a[href="#nino"]`)))
	if focus := b.read("focus", chromedp.Evaluate[string](`document.activeElement.id`)); focus != "nino" {
		t.Errorf("the summary's link put the focus on %q, want the NINO field", focus)
	}

	// Connect for VAT from the VAT page, decline at HMRC: the answer keeps
	// the menu and leads back to the VAT connection.
	b.step("connect for VAT and decline",
		chromedp.Navigate(b.baseURL+"/vat"),
		chromedp.Click(chromedp.Search(`//main//button[contains(., 'Connect to HMRC for VAT')]`)),
		chromedp.WaitVisible(chromedp.CSS(`#user_id`)),
		chromedp.SendKeys(chromedp.CSS(`#user_id`), simUserID),
		chromedp.SendKeys(chromedp.CSS(`#password`), simUserPassword),
		chromedp.Click(chromedp.Search(`//button[contains(., 'Sign in')]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[@value='deny']`)),
		chromedp.Click(chromedp.Search(`//button[@value='deny']`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'You did not grant authority')]`)),
	)
	b.mustSay("decline page", "header", "VAT returns", "Sign out")
	b.checkPage("decline page")
	b.step("back to the VAT connection",
		chromedp.Click(chromedp.Search(`//main//a[contains(., 'Back to your HMRC connection for VAT')]`)),
		chromedp.WaitVisible(chromedp.Search(`//h1[contains(., 'HMRC connection')]`)),
	)
	if loc := b.read("location", chromedp.Location()); loc != b.baseURL+"/settings/hmrc?purpose=vat" {
		t.Errorf("back from the decline page at %s", loc)
	}
	if strings.Contains(b.consoleText(), b.baseURL+"/favicon") {
		t.Errorf("the browser could not load the favicon:\n%s", b.consoleText())
	}
	b.noCSPViolations()
}
