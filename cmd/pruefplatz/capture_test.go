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
// on the station's camera (a folder of demo frames of a part turned by
// hand), frames taken with Space; then a turntable session on the
// simulated rig; then both are listed and the dataset is inspectable.
func TestCapturePage(t *testing.T) {
	t.Parallel()
	feed := filepath.Join(t.TempDir(), "feed")
	writeTurntableFrames(t, feed, []float64{0, 40, 80, 120, 160, 200}, 3)
	capOut := filepath.Join(t.TempDir(), "captured")
	s := startServe(t, "--source", feed, "--fps", "6", "--kiosk-role", "operator,engineer", "--capture-out", capOut)
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
	start := func(mode, name, angles string) {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.SetValue(`#cap-form select[name="mode"]`, mode),
			chromedp.SetValue(`#cap-form input[name="name"]`, name),
			chromedp.SetValue(`#cap-form input[name="angles"]`, angles),
			chromedp.Click("#cap-start"),
			chromedp.WaitVisible("#cap-live"))
		if err != nil {
			t.Fatalf("start %s: %v", mode, err)
		}
	}

	// By hand: the page asks for each view; Space takes the frame.
	start("hand", "hex_nut", "3")
	if err := chromedp.Do(ctx, chromedp.WaitVisible("#cap-take")); err != nil {
		t.Fatal(err)
	}
	ask, err := chromedp.Run(ctx, chromedp.Text("#cap-ask"))
	if err != nil || ask != "lay the part in the middle of the view" {
		t.Fatalf("first request %q (%v)", ask, err)
	}
	var handShot []byte
	deadline := time.Now().Add(40 * time.Second)
	for state() != "done" {
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Text("#cap-live"))
			t.Fatalf("hand session did not finish: %s\n%s", body, s.out.String())
		}
		chromedp.Do(ctx, chromedp.KeyEvent(" "))
		time.Sleep(700 * time.Millisecond)
		if handShot == nil && state() == "running" {
			if b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil && *updateScreenshots {
				handShot = b
				os.WriteFile(filepath.Join("..", "..", "station-ui", "screenshots", "capture-hand.png"), b, 0o644)
			}
		}
	}

	// Turntable on the simulated rig: progress shows while it turns.
	start("turntable", "washer", "12")
	// The screenshot shows the session under way: a few frames taken.
	deadline = time.Now().Add(40 * time.Second)
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
	if err != nil || !strings.Contains(count, "12 of 12") {
		t.Fatalf("turntable progress %q (%v)", count, err)
	}

	// Both sessions are listed with contact sheets, the dataset shows both classes.
	err = chromedp.Do(ctx, chromedp.WaitVisible(`#cap-classes tr[data-class="washer"]`),
		chromedp.WaitVisible(`#cap-classes tr[data-class="hex_nut"]`))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#cap-sessions tr[data-id] img.cap-sheet").length`))
	if err != nil || rows != 2 {
		t.Fatalf("%d sessions listed with a contact sheet (%v)", rows, err)
	}
	out, err := runCapCLI(t, "dataset", "inspect", capOut)
	if err != nil || !strings.Contains(out, "washer") || !strings.Contains(out, "hex_nut") {
		t.Fatalf("dataset inspect: %v\n%s", err, out)
	}
	if *updateScreenshots {
		if err := os.WriteFile(filepath.Join("..", "..", "station-ui", "screenshots", "capture.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
