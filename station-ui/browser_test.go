package stationui

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue/catalogtest"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/internal/browsertest"
)

var updateScreenshots = flag.Bool("screenshots", false, "write the browser test's screenshots to screenshots/ (they are committed)")

// demoFrames renders demo flange images as the station would show them: the
// frame with the ROI and the prediction drawn on, and a thumbnail.
type demoFrames struct {
	t     testing.TB
	roi   inspector.Rect
	count map[string]int
}

func (d *demoFrames) render(label, overlay string, c color.RGBA) (frame, thumb []byte) {
	d.t.Helper()
	if d.count == nil {
		d.count = map[string]int{}
	}
	raw, err := demo.Image(7, demo.SetDefects, label, d.count[label])
	d.count[label]++
	if err != nil {
		d.t.Fatalf("demo image %s: %v", label, err)
	}
	m, err := opencv.DecodeImage(raw, opencv.Limits{})
	if err != nil {
		d.t.Fatal(err)
	}
	defer m.Close()
	if d.roi.Empty() {
		w, h := m.Cols(), m.Rows()
		d.roi = inspector.Rect{X: w / 8, Y: h / 8, W: w * 3 / 4, H: h * 3 / 4}
	}
	opencv.DrawOverlay(&m, &d.roi, overlay, c)
	if frame, err = opencv.EncodeJPEG(m, 85); err != nil {
		d.t.Fatal(err)
	}
	if thumb, err = opencv.Thumbnail(m, 160, 80); err != nil {
		d.t.Fatal(err)
	}
	return frame, thumb
}

// startServer serves h on 127.0.0.1 port 0 until the test ends.
func startServer(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close() // also ends open SSE and MJPEG streams
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.New(t, 90*time.Second)
}

// TestOperatorPageInBrowser drives the operator page in headless Chromium:
// the page loads, a verdict pushed by the station appears, a digit key
// overrides it, the review is stored and still shown after a reload.
func TestOperatorPageInBrowser(t *testing.T) {
	ctx := newBrowser(t)
	f := newFixture(t, func(c *Config) { c.Operator = "Anna K." })
	st := f.st
	st.labels, st.ok = demo.DefectClasses, []string{"ok"}
	frames := &demoFrames{t: t}
	red, green := color.RGBA{208, 2, 27, 255}, color.RGBA{11, 138, 46, 255}
	st.images = func(label string) ([]byte, []byte) {
		c := red
		if label == "ok" {
			c = green
		}
		return frames.render(label, label, c)
	}
	bg := context.Background()
	for _, l := range []string{"ok", "ok", "dent", "ok", "ok", "crack", "ok"} {
		if _, err := st.record(bg, l, 0.97); err != nil {
			t.Fatal(err)
		}
	}
	live, _ := frames.render("scratch", "NOK scratch 91%", red)
	st.setFrame(live)
	base := startServer(t, f.h)

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(`body[data-ready="true"][data-sse="open"]`),
	); err != nil {
		t.Fatalf("load page: %v", err)
	}
	// The station records a scratch; the page shows it without a reload.
	v, err := st.record(bg, "scratch", 0.91)
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.WaitVisible(fmt.Sprintf(`#tile[data-id="%d"][data-outcome="nok"]`, v.ID))); err != nil {
		t.Fatalf("verdict did not appear: %v", err)
	}
	big := text(t, ctx, "#verdict-big")
	label := text(t, ctx, "#verdict-label")
	if big != "NOK" || label != "scratch" {
		t.Errorf("tile shows %q / %q, want NOK / scratch", big, label)
	}
	liveLoaded, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("live").naturalWidth > 0`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || !liveLoaded {
		t.Errorf("live MJPEG view did not load: %v", err)
	}
	screenshot(t, ctx, "operator.png")

	// Key 4 is "ok" (labels crack, dent, missing_hole, ok, scratch).
	if err := chromedp.Do(ctx,
		chromedp.KeyEvent("4"),
		chromedp.WaitVisible(`#tile[data-outcome="ok"][data-reviewed="true"]`),
	); err != nil {
		t.Fatalf("override by key: %v", err)
	}
	var got *inspector.Verdict
	waitFor(t, "stored review", func() bool {
		got, _ = f.store.Get(bg, v.ID)
		return got != nil && got.Review != nil
	})
	if r := got.Review; r.Label != "ok" || r.Outcome != inspector.OutcomeOK || r.By != "Anna K." || r.Confirmed {
		t.Errorf("stored review %+v", r)
	}

	if err := chromedp.Do(ctx,
		chromedp.Reload(),
		chromedp.WaitVisible(`body[data-ready="true"]`),
		chromedp.WaitVisible(fmt.Sprintf(`#tile[data-id="%d"][data-reviewed="true"][data-outcome="ok"]`, v.ID)),
	); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	state := text(t, ctx, "#review-state")
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue("#verdict-label", "data-label"))
	if err != nil {
		t.Fatal(err)
	}
	tileLabel := attr.Value
	if tileLabel != "ok" || !strings.Contains(state, "set to ok") || !strings.Contains(state, "Anna K.") {
		t.Errorf("after reload: label %q, review line %q", tileLabel, state)
	}
	screenshot(t, ctx, "operator-reviewed.png")

	// Enter confirms the machine's label.
	v2, _ := st.record(bg, "crack", 0.95)
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(fmt.Sprintf(`#tile[data-id="%d"][data-outcome="nok"]`, v2.ID)),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(fmt.Sprintf(`#tile[data-id="%d"][data-reviewed="true"]`, v2.ID)),
	); err != nil {
		t.Fatalf("confirm by Enter: %v", err)
	}
	if got, _ := f.store.Get(bg, v2.ID); got.Review == nil || !got.Review.Confirmed || got.Review.Label != "crack" {
		t.Errorf("Enter stored %+v", got.Review)
	}

	// An uncertain verdict is amber; Enter cannot confirm it, a digit decides.
	v3, _ := st.record(bg, "ok", 0.5)
	if v3.Outcome != inspector.OutcomeUncertain {
		t.Fatalf("fixture verdict is %s, want uncertain", v3.Outcome)
	}
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(fmt.Sprintf(`#tile[data-id="%d"][data-outcome="uncertain"]`, v3.ID)),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(`#toast`),
	); err != nil {
		t.Fatalf("uncertain verdict: %v", err)
	}
	if got, _ := f.store.Get(bg, v3.ID); got.Review != nil {
		t.Errorf("Enter on an uncertain verdict stored %+v", got.Review)
	}
	screenshot(t, ctx, "operator-uncertain.png")
	if err := chromedp.Do(ctx,
		chromedp.KeyEvent("2"),
		chromedp.WaitVisible(fmt.Sprintf(`#tile[data-id="%d"][data-outcome="nok"][data-reviewed="true"]`, v3.ID)),
	); err != nil {
		t.Fatalf("decide uncertain by key: %v", err)
	}
	if got, _ := f.store.Get(bg, v3.ID); got.Review == nil || got.Review.Label != "dent" || got.Review.Outcome != inspector.OutcomeNOK {
		t.Errorf("key 2 stored %+v", got.Review)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// screenshot captures the viewport; with -screenshots it goes to
// screenshots/ (committed), otherwise to the test's temp dir.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	cfg, _, err := image.DecodeConfig(strings.NewReader(string(png)))
	if err != nil || cfg.Width != 1280 || cfg.Height != 800 {
		t.Errorf("screenshot %dx%d (%v), want 1280x800", cfg.Width, cfg.Height, err)
	}
	dir := t.TempDir()
	if *updateScreenshots {
		dir = "screenshots"
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

// TestSalesAndEngineerPagesInBrowser uploads a photo on the sales page and
// checks the top-k catalogue matches with reference images, then loads the
// engineer page's model and verdict tables.
func TestSalesAndEngineerPagesInBrowser(t *testing.T) {
	ctx := newBrowser(t)
	// The station's own screen holding every role: these pages run as the
	// kiosk (TestLoginInBrowser covers logging in). The sales page searches
	// the catalogue, never the station's model.
	withCat, _ := withCatalogue(t, 6)
	f := newFixture(t, func(c *Config) { withCat(c); c.KioskRoles = auth.AllRoles })
	f.st.labels, f.st.ok = demo.PartClasses, nil
	for _, l := range []string{"washer", "hex_nut", "spring"} {
		f.st.record(context.Background(), l, 0.95)
	}
	photoPath := filepath.Join(t.TempDir(), "customer.jpg")
	os.WriteFile(photoPath, catalogtest.Photo(4, 30, 0.1), 0o644)
	base := startServer(t, f.h)

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(base+"/sales"),
		chromedp.SetUploadFiles("#file", []string{photoPath}),
	); err != nil {
		t.Fatalf("sales upload: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(wctx, chromedp.WaitVisible(`#results li:nth-child(3) .pn`)); err != nil {
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("error").textContent + " | " + document.getElementById("results").innerHTML`))
		t.Fatalf("no results after upload: %v (page: %s)", err, msg)
	}
	if first := text(t, ctx, "#results li:first-child .pn"); first != "P-4" {
		t.Errorf("best match %q, want P-4", first)
	}
	if n := f.st.classified.Load(); n != 0 {
		t.Errorf("the sales page used the station's model %d times", n)
	}
	refsShown, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`[...document.querySelectorAll("#results img")].every(i => i.complete && i.naturalWidth > 0)`,
		chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil || !refsShown {
		t.Errorf("reference images not shown: %v", err)
	}
	screenshot(t, ctx, "sales.png")

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/engineer"),
		chromedp.WaitVisible(`#models tr:nth-child(2)`),
		chromedp.WaitVisible(`#verdicts tr:nth-child(3)`),
		chromedp.WaitVisible(`#status dd`),
	); err != nil {
		t.Fatalf("engineer page: %v", err)
	}
	if active := text(t, ctx, "#models tr.active td:nth-child(2)"); active != "v2" {
		t.Errorf("active model row shows %q", active)
	}
	// Three verdicts fit one page: no "Older…" button.
	if more, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`getComputedStyle(document.getElementById("more")).display !== "none"`)); err != nil || more {
		t.Errorf("paging button shown for a single page (%v)", err)
	}
	screenshot(t, ctx, "engineer.png")
}

// TestLoginInBrowser logs in as an operator, sees the station, is refused
// the engineer API, logs out, logs in as an engineer (who is also admin),
// activates a model and finds the activation in the audit log.
func TestLoginInBrowser(t *testing.T) {
	ctx := newBrowser(t)
	// No kiosk: the browser on 127.0.0.1 must log in like anyone else.
	f := newFixture(t, func(c *Config) { c.KioskRoles = nil })
	bg := context.Background()
	for _, u := range []struct {
		name  string
		roles []auth.Role
	}{{"olga", []auth.Role{auth.RoleOperator}}, {"erik", []auth.Role{auth.RoleEngineer, auth.RoleAdmin}}} {
		if err := f.auth.AddUser(bg, auth.Actor{Name: "test"}, u.name, u.name+"'s password", u.roles); err != nil {
			t.Fatal(err)
		}
	}
	f.st.record(bg, "dent", 0.95)
	base := startServer(t, f.h)
	login := func(user string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.WaitVisible(`#login`),
			chromedp.SendKeys(`#user`, user),
			chromedp.SendKeys(`#password`, user+"'s password"),
			chromedp.Click(`#btn-login`),
		)
	}
	status := func(js string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return n
	}

	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(base+"/"),
		login("olga"),
		chromedp.WaitVisible(`body.operator[data-ready="true"][data-sse="open"]`),
	); err != nil {
		t.Fatalf("operator login: %v", err)
	}
	if who := text(t, ctx, "#who"); who != "olga" {
		t.Errorf("user box shows %q", who)
	}
	screenshot(t, ctx, "operator-logged-in.png")
	if c := status(`fetch("/api/models").then(r => r.status)`); c != 403 {
		t.Errorf("operator GET /api/models: %d, want 403", c)
	}
	csrf := `document.querySelector('meta[name="csrf-token"]').content`
	if c := status(`fetch("/api/models/activate", {method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": ` + csrf +
		`}, body: JSON.stringify({name: "flange", version: "v1"})}).then(r => r.status)`); c != 403 {
		t.Errorf("operator activate: %d, want 403", c)
	}
	if err := chromedp.Do(ctx,
		chromedp.Click(`#btn-logout`),
		chromedp.WaitVisible(`#login`),
	); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if c := status(`fetch("/api/session").then(r => r.status)`); c != 401 {
		t.Errorf("after logout /api/session: %d, want 401", c)
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/engineer"),
		login("erik"),
		chromedp.WaitVisible(`#models tr:nth-child(2)`),
		chromedp.WaitVisible(`#audit tr`),
		chromedp.Click(`#models tr:not(.active) button`),
		chromedp.WaitVisible(`#models tr.active`),
	); err != nil {
		t.Fatalf("engineer login and activation: %v", err)
	}
	inAudit, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`[...document.querySelectorAll("#audit tr")].some(tr => tr.textContent.includes("model.activate") && tr.textContent.includes("flange/v1") && tr.textContent.includes("erik"))`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || !inAudit {
		t.Errorf("activation not in the page's audit log: %v", err)
	}
	if active := text(t, ctx, "#models tr.active td:nth-child(2)"); active != "v1" {
		t.Errorf("active model row shows %q, want v1", active)
	}
	if strings.Join(f.st.activated, ",") != "flange/v1" {
		t.Errorf("station activated %v", f.st.activated)
	}
	screenshot(t, ctx, "engineer-audit.png")
}
