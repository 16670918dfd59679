// Package browsertest starts headless Chromium for tests that drive the
// station's pages as a user would (chromedp). Without Chromium a test is
// skipped with a message, except under CI=true, where it fails: CI must
// install the browser (make setup-test does).
package browsertest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's Chromium, installed by make setup-test.
const ChromiumPath = "/usr/bin/chromium"

// New starts a fresh headless Chromium (1280×800, its own profile in a
// temporary folder) and returns a chromedp context that ends, with the
// browser, when the test ends or after timeout.
func New(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser test needs Chromium at %s (make setup-test installs it): %v", ChromiumPath, err)
		}
		t.Skipf("browser test needs Chromium at %s (Debian package chromium; make setup-test installs it): %v", ChromiumPath, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// Without these Chromium dials out at start, which the station's
		// offline network refuses many times over.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}
