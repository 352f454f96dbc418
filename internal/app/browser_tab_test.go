package app_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
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

// download clicks sel and returns the file the browser saved in dir,
// waiting for the browser's completion event (bounded, no sleep).
func (b tab) download(dir, sel string) []byte {
	b.t.Helper()
	progress := chromedp.Events(b.ctx, browser.DownloadProgress)
	done := make(chan string, 1)
	go func() {
		defer close(done)
		for ev, err := range progress {
			if err != nil {
				return
			}
			switch ev.State {
			case browser.DownloadProgressStateCompleted:
				done <- ev.GUID
				return
			case browser.DownloadProgressStateCanceled:
				return
			}
		}
	}()
	b.step("download "+sel,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: ptr(true)})
			return err
		}),
		chromedp.Click(chromedp.CSS(sel)))
	select {
	case g, ok := <-done:
		if !ok {
			b.t.Fatalf("the download of %s failed", sel)
		}
		data, err := os.ReadFile(filepath.Join(dir, g))
		if err != nil {
			b.t.Fatal(err)
		}
		return data
	case <-time.After(browserTimeout):
		b.t.Fatalf("the download of %s did not complete in time", sel)
	}
	return nil
}
