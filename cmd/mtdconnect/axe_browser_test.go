package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The widths every page is checked at: a small phone's and a laptop's
// (issue 13 walked the pages at both).
var checkWidths = []int64{375, 1280}

// axeSource is axe-core's script, installed from npm by .ci/run
// (`npm ci` in web/testdata/axe, pinned by its package-lock.json).
var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(filepath.Join("..", "..", "web", "testdata", "axe", "node_modules", "axe-core", "axe.min.js"))
	return string(b), err
})

// axeScript returns axe-core, and false when it is not installed here (on
// CI, where .ci/run installs it, the test fails instead).
func axeScript(t *testing.T) (string, bool) {
	t.Helper()
	src, err := axeSource()
	if err == nil {
		return src, true
	}
	if os.Getenv("CI") != "" {
		t.Fatal(axeMissing(err))
	}
	return "", false
}

func axeMissing(err error) string {
	return fmt.Sprintf("axe-core is not installed (%v): run `npm ci` in web/testdata/axe", err)
}

// requireAxe skips the test, saying why, when axe-core is not installed
// here (fails on CI): for the tests whose point is the accessibility check.
func requireAxe(t *testing.T) {
	t.Helper()
	if _, err := axeSource(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(axeMissing(err))
		}
		t.Skip(axeMissing(err))
	}
}

// axeViolation is one rule axe-core found broken, with where.
type axeViolation struct {
	ID    string `json:"id"`
	Help  string `json:"help"`
	Nodes []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// layoutFacts are what the page's layout looks like at one width.
type layoutFacts struct {
	ScrollWidth float64 `json:"scrollWidth"`
	InnerWidth  float64 `json:"innerWidth"`
}

// checkPage checks the page the browser is on at each of checkWidths, as a
// landlord on a phone and on a laptop sees it: nothing runs off to the
// side (no horizontal scroll), and axe-core finds no WCAG 2.1 A/AA or
// best-practice violation (when it is not installed here, the rest is
// checked and the test log says so). It leaves the browser at the last
// width.
func (b *browserRun) checkPage(name string) {
	b.t.Helper()
	b.settled(name)
	for _, w := range checkWidths {
		b.step(fmt.Sprintf("%s at %dpx", name, w), chromedp.EmulateViewport(w, 800))
		facts, err := chromedp.Run(b.ctx, chromedp.Evaluate[layoutFacts](
			`({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth})`))
		if err != nil {
			b.t.Fatalf("%s at %dpx: measure: %v", name, w, err)
		}
		if facts.ScrollWidth > facts.InnerWidth {
			b.t.Errorf("%s at %dpx: the page scrolls sideways (scrollWidth %v > innerWidth %v)\n%s",
				name, w, facts.ScrollWidth, facts.InnerWidth, b.where())
		}
		if _, ok := axeScript(b.t); !ok {
			if !b.axeSkipped {
				b.axeSkipped = true
				_, err := axeSource()
				b.t.Logf("accessibility not checked: %s", axeMissing(err))
			}
			continue
		}
		violations := b.axeViolations(fmt.Sprintf("%s at %dpx", name, w))
		for _, v := range violations {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, fmt.Sprintf("    %v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " ")))
			}
			b.t.Errorf("%s at %dpx: axe-core %s: %s\n%s", name, w, v.ID, v.Help, strings.Join(where, "\n"))
		}
	}
}

// axeViolations runs axe-core on the page the browser is on: WCAG 2.1
// A/AA, WCAG 2.2 AA and axe's best practices (landmarks, heading order).
func (b *browserRun) axeViolations(name string) []axeViolation {
	b.t.Helper()
	src, ok := axeScript(b.t)
	if !ok {
		requireAxe(b.t)
	}
	// Injected through DevTools, so the pages' CSP (script-src 'self') does
	// not apply; a page navigated to since needs it again.
	loaded, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`typeof window.axe === 'object'`))
	if err == nil && !loaded {
		_, err = chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](src))
	}
	if err != nil {
		b.t.Fatalf("%s: inject axe-core: %v", name, err)
	}
	violations, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})
		  .then(r => r.violations)`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: axe-core: %v", name, err)
	}
	return violations
}

// settled waits for the page's stylesheet and scripts: what is measured
// is what the landlord sees, not the page half loaded.
func (b *browserRun) settled(name string) {
	b.t.Helper()
	b.step(name+": loaded", chromedp.Poll[chromedp.Void](`document.readyState === 'complete'`,
		chromedp.WithPollingTimeout(10*time.Second)))
}
