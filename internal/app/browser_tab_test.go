package app_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// tab is a headless Chromium driven by one test (the browser tests' shared
// driver): every action is bounded by browserTimeout, and a failed step
// prints the page it failed on.
type tab struct {
	t   *testing.T
	ctx context.Context
	// close ends the browser (also at the test's end).
	close func()
}

// openTab starts Chromium with its profile and NSS database under home
// (browserHome), in the language lang (Chromium's --lang) and, when
// acceptLang is not empty, with that Accept-Language.
func openTab(t *testing.T, chromium, home, lang, acceptLang string) tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox, // root in CI containers
		chromedp.UserDataDir(filepath.Join(home, "profile")),
		chromedp.Env("HOME="+home),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("lang", lang),
	)
	if acceptLang != "" {
		opts = append(opts, chromedp.Flag("accept-lang", acceptLang))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(t.Context(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	end := func() { cancel(); cancelAlloc() }
	t.Cleanup(end)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	return tab{t: t, ctx: ctx, close: end}
}

func (b tab) step(name string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		hctx, hcancel := context.WithTimeout(b.ctx, browserTimeout)
		defer hcancel()
		html, _ := chromedp.Run(hctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		b.t.Fatalf("%s: %v\npage:\n%s", name, err, html)
	}
}

func (b tab) text(sel string) string {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// eval evaluates js (awaiting it when it is a promise) to a string.
func (b tab) eval(js string) string {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return s
}
