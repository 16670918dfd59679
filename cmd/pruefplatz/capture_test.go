package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"github.com/pruefplatz/pruefplatz/internal/browsertest"
)

// runCapCLI runs the root command with args and returns its output.
func runCapCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runCapCLIIn(t, "", args...)
}

// runCapCLIIn runs the root command with args and stdin, and returns its
// output.
func runCapCLIIn(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestCaptureCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out, err := runCapCLI(t, "capture", "--rig", "sim", "--class", "hex_nut", "--angles", "6", "--out", dir, "--by", "tester")
	if err != nil || !strings.Contains(out, "done: 6 frames") {
		t.Fatalf("capture: %v\n%s", err, out)
	}
	out, err = runCapCLI(t, "dataset", "inspect", "--json", dir)
	if err == nil {
		t.Fatalf("a one-class dataset inspected without the too-few-classes error")
	}
	var rep datasetReport
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		t.Fatalf("%v\n%s", jerr, out)
	}
	if len(rep.Classes) != 1 || rep.Classes[0].Sessions != 1 || rep.Classes[0].Angles != 6 || len(rep.Sessions) != 1 ||
		rep.Sessions[0].By != "tester" || !strings.Contains(strings.Join(rep.Warnings, "\n"), "all 6 images come from one capture session") {
		t.Fatalf("inspect: %+v", rep)
	}
	for name, args := range map[string][]string{
		"no out":           {"capture", "--rig", "sim", "--class", "hex_nut"},
		"no target":        {"capture", "--rig", "sim", "--out", dir},
		"not a demo class": {"capture", "--rig", "sim", "--class", "sprocket", "--out", dir},
		"resume done":      {"capture", "--out", dir, "--resume", rep.Sessions[0].ID},
		"unknown session":  {"capture", "--out", dir, "--resume", "20261203-170000-abcdef"},
		"missing serial":   {"capture", "--rig", "serial:/dev/pruefplatz-none", "--source", dir, "--class", "x", "--out", dir},
	} {
		if out, err := runCapCLI(t, args...); err == nil {
			t.Errorf("%s: no error\n%s", name, out)
		}
	}
}

// By hand in the CLI, the frame of a view is taken when the turned part
// lies still (the station page's trigger) or on Enter.
func TestCaptureByHand(t *testing.T) {
	t.Parallel()
	// Two shots (their noise differs) of each of three views, rendered
	// once: held lies still for six frames a view, flicked for one.
	shots := filepath.Join(t.TempDir(), "shots")
	writeTurntableFrames(t, shots, []float64{0, 60, 120}, 2)
	held, flicked := filepath.Join(t.TempDir(), "held"), filepath.Join(t.TempDir(), "flicked")
	copyShot := func(from int, dir string, to int) {
		b, err := os.ReadFile(filepath.Join(shots, fmt.Sprintf("f%03d.jpg", from)))
		if err == nil {
			os.MkdirAll(dir, 0o755)
			err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.jpg", to)), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for v := range 3 {
		for k := range 6 {
			copyShot(2*v+k%2, held, 6*v+k)
		}
		copyShot(2*v, flicked, v)
	}
	cases := []struct {
		name, source, stdin, still string
		want                       []string // in the output
		fails                      bool
	}{
		// No key at all: each view is taken once the part lies still.
		{name: "still part", source: held, still: "3", want: []string{"done: 3 frames", "view 3/3:", "the part lies still"}},
		// Enter only, one line per view: each takes the next frame.
		{name: "enter", source: flicked, stdin: "\n\n\n", still: "0", want: []string{"done: 3 frames", "view 3/3:", "press Enter"}},
		// Enter only and no more input: nothing can take a frame.
		{name: "enter, input ended", source: flicked, still: "0", fails: true, want: []string{"no more input", "--resume"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := runCapCLIIn(t, c.stdin, "capture", "--mode", "hand", "--source", c.source, "--class", "hex_nut",
				"--angles", "3", "--still", c.still, "--out", filepath.Join(t.TempDir(), "data"))
			if (err != nil) != c.fails {
				t.Fatalf("error %v, want failure %v\n%s", err, c.fails, out)
			}
			if err != nil {
				out += err.Error()
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in\n%s", w, out)
				}
			}
			if c.still == "0" && strings.Contains(out, "lies still") {
				t.Errorf("--still 0 took a frame by itself\n%s", out)
			}
		})
	}
}

// writeTurntableFrames writes frames of one demo part at a few angles, each
// angle held for hold frames: what the station's camera sees while a
// person turns the part by hand.
func writeTurntableFrames(t *testing.T, dir string, angles []float64, hold int) {
	t.Helper()
	tt, err := demo.NewTurntable(1, "hex_nut", 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range angles {
		tt.MoveTo(context.Background(), a)
		for range hold {
			b, err := tt.Grab(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.jpg", n)), b, 0o644); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
}

// TestCapturePage drives the capture page in a browser: a by-hand session
// on the demo feed (the flanges of `make run` sliding onto the table,
// resting and leaving), each view taken by the auto trigger once the part
// lies still, Space taking a frame at once; then a turntable session on the
// simulated rig; then both are listed, a frame is dropped and one moved to
// another class on the page, the manifest follows, and the dataset is
// inspectable.
func TestCapturePage(t *testing.T) {
	t.Parallel()
	// The demo feed as `make run` plays it, shorter and at 5 frames a
	// second (rendering is slow under -race): each flange rests 2 s.
	feed := filepath.Join(t.TempDir(), "feed")
	t0 := time.Now()
	if _, err := demo.GenerateFeed(context.Background(), demo.FeedOptions{Seed: 3, Parts: 3, FPS: 5, Out: feed}); err != nil {
		t.Fatal(err)
	}
	phase := func(what string) { t.Logf("%s after %.1f s", what, time.Since(t0).Seconds()) }
	phase("demo feed rendered")
	capOut := filepath.Join(t.TempDir(), "captured")
	s := startServe(t, "--source", filepath.Join(feed, "feed.avi"), "--fps", "10", "--kiosk-role", "operator,engineer", "--capture-out", capOut)
	ctx := browsertest.New(t, 120*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+s.addr+"/capture"), chromedp.WaitVisible("#cap-form")); err != nil {
		t.Fatalf("capture page: %v\n%s", err, s.out.String())
	}
	state := func() string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("cap-state").dataset.state || ""`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	store := &capture.Store{Root: capOut}
	manifest := func(id string) *capture.Session {
		t.Helper()
		m, err := store.Load(id, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	var started string // the session started last
	start := func(mode, name, angles string) string {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.SetValue(`#cap-form select[name="mode"]`, mode),
			chromedp.SetValue(`#cap-form input[name="name"]`, name),
			chromedp.SetValue(`#cap-form input[name="angles"]`, angles),
			chromedp.Click("#cap-start"),
			chromedp.WaitVisible("#cap-live"))
		var id string
		if err == nil {
			// The page follows the new session once it is started.
			id, err = chromedp.Run(ctx, chromedp.Poll[string](`(id => id !== "`+started+`" && id)(document.getElementById("cap-id").textContent)`, chromedp.WithPollingTimeout(10*time.Second)))
		}
		if err != nil || !capture.ValidID(id) {
			t.Fatalf("start %s: %q %v", mode, id, err)
		}
		started = id
		return id
	}
	// until waits for the session's manifest to satisfy ok.
	until := func(id, what string, ok func(*capture.Session) bool) *capture.Session {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for {
			if m, err := store.Load(id, nil); err == nil && ok(m) {
				return m
			}
			if time.Now().After(deadline) {
				body, _ := chromedp.Run(ctx, chromedp.Text("#cap-live"))
				t.Fatalf("%s: not within 40 s: %s\n%s", what, body, s.out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// By hand on the demo feed: the page asks for each view, with the
	// plain ROI preview; the auto trigger takes a view's frame once the
	// flange lies still, no key pressed.
	hand := start("hand", "flange", "3")
	if err := chromedp.Do(ctx, chromedp.WaitVisible("#cap-take"), chromedp.WaitVisible("#cap-preview")); err != nil {
		t.Fatal(err)
	}
	ask, err := chromedp.Run(ctx, chromedp.Text("#cap-ask"))
	if err != nil || ask != "lay the part in the middle of the view" {
		t.Fatalf("first request %q (%v)", ask, err)
	}
	preview, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("cap-preview").src`))
	if err != nil || !strings.HasSuffix(preview, "/api/capture/preview.mjpg") {
		t.Fatalf("hand preview %q (%v): want the plain frame, not the live view", preview, err)
	}
	// The preview is the frame cut to the station's ROI (the default
	// model's card: 300×300 of the 640×480 feed), as a frame is taken.
	size, err := chromedp.Run(ctx, chromedp.Poll[string](`(i => i.naturalWidth > 0 && i.naturalWidth + "x" + i.naturalHeight)(document.getElementById("cap-preview"))`, chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || size != "300x300" {
		t.Fatalf("hand preview is %q (%v), want the 300x300 ROI", size, err)
	}
	until(hand, "a view taken by the still part", func(m *capture.Session) bool { return len(m.Frames) == 1 })
	if *updateScreenshots {
		// Wait for the page to show the kept frame.
		if err := chromedp.Do(ctx, chromedp.WaitVisible(`#cap-last`), chromedp.Sleep(400*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join("..", "..", "station-ui", "screenshots", "capture-hand.png"), b, 0o644)
	}
	until(hand, "two views taken by the still part", func(m *capture.Session) bool { return len(m.Frames) == 2 })
	// Space takes the frame at once: the flange still lies as it was
	// taken, so the frame is turned away, and the page says why (or, on a
	// slow machine, the flange is on its way out and the frame is kept).
	// The page shows the reason only while the session runs; a recorder
	// keeps every reason it showed, in case the next view is taken, or
	// turned away, meanwhile.
	handBefore := manifest(hand)
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.rejectShown = []; setInterval(() => { const r = document.getElementById("cap-reject"); if (!r.hidden && r.textContent && !window.rejectShown.includes(r.textContent)) window.rejectShown.push(r.textContent); }, 50)`),
		chromedp.KeyEvent(" "))
	if err != nil {
		t.Fatal(err)
	}
	m := until(hand, "a frame taken on Space", func(m *capture.Session) bool {
		return len(m.Rejected) > len(handBefore.Rejected) || len(m.Frames) > len(handBefore.Frames)
	})
	t.Logf("by hand: %d frames kept, turned away: %+v", len(m.Frames), m.Rejected)
	if n := len(handBefore.Rejected); len(m.Rejected) > n {
		shown, err := chromedp.Run(ctx, chromedp.Poll[string](`window.rejectShown.join("\n")`, chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil || !strings.Contains(shown, m.Rejected[n].Reason) {
			t.Fatalf("the page showed %q (%v), not why the frame was turned away: %s", shown, err, m.Rejected[n].Reason)
		}
	}
	until(hand, "the hand session done", func(m *capture.Session) bool { return m.State == capture.Done })
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](`document.getElementById("cap-state").dataset.state === "done"`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		t.Fatalf("the page does not show the hand session done: %v", err)
	}

	phase("hand session done")
	// Turntable on the simulated rig: progress shows while it turns.
	turn := start("turntable", "washer", "12")
	// The screenshot shows the session under way: a few frames taken.
	deadline := time.Now().Add(40 * time.Second)
	for {
		taken, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.getElementById("cap-count").textContent.includes("of 12") && document.getElementById("cap-state").dataset.state === "running" ? document.getElementById("cap-bar").value : -1`))
		if err != nil {
			t.Fatal(err)
		}
		if taken >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("turntable session did not get going (%d frames)", taken)
		}
		time.Sleep(50 * time.Millisecond)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	for state() != "done" {
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Text("#cap-live"))
			t.Fatalf("turntable session did not finish: %s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	count, err := chromedp.Run(ctx, chromedp.Text("#cap-count"))
	if err != nil || !strings.Contains(count, "12 of 12") || len(manifest(turn).Frames) != 12 {
		t.Fatalf("turntable progress %q (%v)", count, err)
	}

	// Both sessions are listed with contact sheets, the dataset shows both classes.
	err = chromedp.Do(ctx, chromedp.WaitVisible(`#cap-classes tr[data-class="washer"]`),
		chromedp.WaitVisible(`#cap-classes tr[data-class="flange"]`))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#cap-sessions tr[data-id] img.cap-sheet").length`))
	if err != nil || rows != 2 {
		t.Fatalf("%d sessions listed with a contact sheet (%v)", rows, err)
	}

	phase("turntable session done")
	// Review the turntable session on the page: drop its first frame, move
	// its (new) first frame to another class; the manifest and the folders
	// follow.
	before := manifest(turn)
	dropped, moved := before.Frames[0].File, before.Frames[1].File
	frames := `#cap-frames figure.cap-frame`
	err = chromedp.Do(ctx,
		chromedp.Click(`#cap-sessions tr[data-id="`+turn+`"] button.cap-review`),
		chromedp.WaitVisible(`#cap-review`),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("`+frames+`").length === 12`, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Click(frames+`:first-child button.cap-drop`),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll("`+frames+`").length === 11`, chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("drop on the page: %v", err)
	}
	if m := manifest(turn); len(m.Frames) != 11 || m.Frames[0].File != moved {
		t.Fatalf("after the drop the manifest lists %d frames, first %s", len(m.Frames), m.Frames[0].File)
	}
	if _, err := os.Stat(filepath.Join(capOut, filepath.FromSlash(dropped))); !os.IsNotExist(err) {
		t.Fatalf("dropped frame %s still on disk (%v)", dropped, err)
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(frames+`:first-child input.cap-move-to`, "washer_b"),
		chromedp.Click(frames+`:first-child button.cap-move`),
		chromedp.Poll[chromedp.Void](`document.querySelector("`+frames+`:first-child figcaption").textContent.startsWith("washer_b")`, chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.WaitVisible(`#cap-classes tr[data-class="washer_b"]`))
	if err != nil {
		t.Fatalf("move on the page: %v", err)
	}
	after := manifest(turn)
	want := "washer_b/" + filepath.Base(moved)
	if len(after.Frames) != 11 || after.Frames[0].File != want || after.Frames[0].SHA256 != before.Frames[1].SHA256 {
		t.Fatalf("after the move the manifest's first frame is %+v, want %s", after.Frames[0], want)
	}
	if _, err := os.Stat(filepath.Join(capOut, filepath.FromSlash(want))); err != nil {
		t.Fatalf("moved frame not in its new class folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(capOut, filepath.FromSlash(moved))); !os.IsNotExist(err) {
		t.Fatalf("moved frame still in its old folder (%v)", err)
	}

	phase("review done")
	out, err := runCapCLI(t, "dataset", "inspect", capOut)
	if err != nil || !strings.Contains(out, "washer_b") || !strings.Contains(out, "flange") {
		t.Fatalf("dataset inspect: %v\n%s", err, out)
	}
	if *updateScreenshots {
		if err := os.WriteFile(filepath.Join("..", "..", "station-ui", "screenshots", "capture.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
