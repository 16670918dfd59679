package stationui

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestOperatorPageSwitchesLanguage drives the operator page in headless
// Chromium: German chosen on the page, then English, then German again;
// the choice survives a reload, and numbers follow the language.
func TestOperatorPageSwitchesLanguage(t *testing.T) {
	ctx := newBrowser(t)
	f := newFixture(t, nil)
	url := startServer(t, f.h)
	ready := chromedp.WaitVisible(`body[data-ready="true"]`)
	check := func(lang, button, percent string) {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang + "|" + document.getElementById("btn-trigger").textContent.trim() + "|" + pct(0.987).replace(/\u00a0/g, " ")`))
		if err != nil {
			t.Fatal(err)
		}
		if want := lang + "|" + button + "|" + percent; got != want {
			t.Errorf("page says %q, want %q", got, want)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url+"/"), ready); err != nil {
		t.Fatal(err)
	}
	check("en", "Check now Space", "98.7%") // Chromium here asks for English
	for _, step := range []struct{ lang, button, percent string }{
		{"de", "Jetzt prüfen Space", "98,7 %"},
		{"en", "Check now Space", "98.7%"},
		{"de", "Jetzt prüfen Space", "98,7 %"},
	} {
		if err := chromedp.Do(ctx, chromedp.Click(`.lang-switch [data-lang="`+step.lang+`"]`)); err != nil {
			t.Fatal(err)
		}
		// The click reloads the page; wait for the new one.
		if err := chromedp.Do(ctx, chromedp.WaitVisible(`html[lang="`+step.lang+`"] body[data-ready="true"]`)); err != nil {
			t.Fatalf("switch to %s: %v", step.lang, err)
		}
		check(step.lang, step.button, step.percent)
	}
	// Remembered: a fresh load of the page stays German.
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/"), ready); err != nil {
		t.Fatal(err)
	}
	check("de", "Jetzt prüfen Space", "98,7 %")
	if title, err := chromedp.Run(ctx, chromedp.Title()); err != nil || !strings.Contains(title, "Bediener") {
		t.Errorf("title %q (%v)", title, err)
	}
	screenshot(t, ctx, "operator-german.png")
}
