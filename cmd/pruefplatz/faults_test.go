package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/internal/browsertest"
	"gocv.io/x/gocv"
	"golang.org/x/crypto/bcrypt"
)

var updateScreenshots = flag.Bool("screenshots", false, "write the browser tests' screenshots to station-ui/screenshots/ (they are committed)")

// servedStation is a `pruefplatz serve` running in this process on port 0.
type servedStation struct {
	addr  string
	store string // the verdict store's path
	out   *syncBuffer
	stop  func() error
}

// startServe runs serve with the repository's models and ONNX Runtime, a
// store in a temporary folder and args, and waits until it listens. The
// station is stopped (like Ctrl-C) when the test ends; serve must then
// return nil.
//
// The station finds a user already there (seedUsers), so it does not
// create its first admin: that hash, at bcrypt's production cost, was
// about a second and a half of CPU per station under the race detector.
// startServeBootstrap starts one on an empty folder instead.
func startServe(t *testing.T, args ...string) *servedStation {
	t.Helper()
	dir := t.TempDir()
	seedUsers(t, filepath.Join(dir, "auth.db"))
	return startServeIn(t, dir, args...)
}

// startServeBootstrap is startServe with no user yet.
func startServeBootstrap(t *testing.T, args ...string) *servedStation {
	t.Helper()
	return startServeIn(t, t.TempDir(), args...)
}

func startServeIn(t *testing.T, dir string, args ...string) *servedStation {
	t.Helper()
	repo, _ := filepath.Abs("../..")
	lib := filepath.Join(repo, ".deps", "onnxruntime", ortLibName)
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("no ONNX Runtime at %s: run `make setup`", lib)
	}
	store := filepath.Join(dir, "v.db")
	all := append([]string{"serve", "--listen", "127.0.0.1:0", "--store", store,
		"--models", filepath.Join(repo, "models"), "--ort-lib", lib}, args...)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{mu: make(chan struct{}, 1)}
	root := newRootCmd()
	root.SetArgs(all)
	root.SetOut(out)
	root.SetErr(out)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stopped := false
	s := &servedStation{out: out, store: store, stop: func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return fmt.Errorf("serve did not stop after cancel")
		}
	}}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("serve: %v\n%s", err, out.String())
		}
	})
	re := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			s.addr = m[1]
			return s
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended before listening: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *servedStation) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + s.addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v (the station died?)\n%s", path, err, s.out.String())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return b
}

func (s *servedStation) status(t *testing.T) inspector.StationStatus {
	t.Helper()
	var st inspector.StationStatus
	if err := json.Unmarshal(s.get(t, "/api/status"), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitState polls /api/status until the source is in state and returns that status.
func (s *servedStation) waitState(t *testing.T, state inspector.SourceState, timeout time.Duration) inspector.StationStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := s.status(t)
		if st.SourceState == state && (state != inspector.SourceLive || st.Frames > 0) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("source state %q (error %q) after %v, want %q\n%s", st.SourceState, st.SourceError, timeout, state, s.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkDisconnected asserts what an engineer sees of a lost source: the
// status with its reason, the metric and the log line.
func (s *servedStation) checkDisconnected(t *testing.T, reason string) {
	t.Helper()
	st := s.waitState(t, inspector.SourceDisconnected, 20*time.Second)
	if st.SourceError == "" || (reason != "" && !strings.Contains(st.SourceError, reason)) {
		t.Errorf("source error %q, want one that says %q", st.SourceError, reason)
	}
	metrics := string(s.get(t, "/metrics"))
	if !strings.Contains(metrics, `pruefplatz_source_state{state="disconnected"} 1`) || !strings.Contains(metrics, "pruefplatz_source_live 0") {
		t.Errorf("/metrics does not report the lost source:\n%s", grepLines(metrics, "pruefplatz_source"))
	}
	if !strings.Contains(s.out.String(), "state=disconnected") {
		t.Errorf("no log line says disconnected:\n%s", s.out.String())
	}
	// Still serving after a few more reconnect attempts.
	time.Sleep(300 * time.Millisecond)
	if st := s.status(t); st.SourceState != inspector.SourceDisconnected {
		t.Errorf("state %q after retries, want still disconnected", st.SourceState)
	}
}

func grepLines(s, sub string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// writeFrames writes n PNG frames of the demo feed's size into dir (created).
func writeFrames(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 640, 480))
		for p := range img.Pix {
			img.Pix[p] = uint8(40 + 10*i)
		}
		img.Set(i, i, color.White)
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.png", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeVideo writes an MJPG .avi of n frames to path.
func writeVideo(t *testing.T, path string, n int) {
	t.Helper()
	w, err := gocv.VideoWriterFile(path, "MJPG", 15, 640, 480, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	m := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer m.Close()
	for i := range n {
		m.SetTo(gocv.NewScalar(float64(30+20*i), 80, 120, 0))
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
}

// freeLoopbackPort returns a loopback port with nothing listening on it.
func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestServeSurvivesSourceFaults runs the real station (`serve`, gocv
// sources, the shipped model) against sources that are absent or vanish,
// and checks that it keeps serving, reports the source as disconnected
// with the reason, and resumes by itself when the source returns.
func TestServeSurvivesSourceFaults(t *testing.T) {
	t.Parallel() // a whole station each: they mostly wait on frames, browsers and brokers
	// The kiosk gets the engineer role too, to read /metrics without a login.
	fast := []string{"--reconnect-max", "200ms", "--fps", "30", "--kiosk-role", "operator,engineer"}

	t.Run("device index that does not exist", func(t *testing.T) {
		s := startServe(t, append(fast, "--source", "7")...)
		s.checkDisconnected(t, "source 7")
	})

	t.Run("rtsp with nothing listening", func(t *testing.T) {
		url := fmt.Sprintf("rtsp://127.0.0.1:%d/stream", freeLoopbackPort(t))
		s := startServe(t, append(fast, "--source", url)...)
		s.checkDisconnected(t, url)
	})

	t.Run("empty folder, then frames arrive", func(t *testing.T) {
		dir := t.TempDir()
		s := startServe(t, append(fast, "--source", dir)...)
		s.checkDisconnected(t, "no images")
		writeFrames(t, dir, 5)
		s.waitState(t, inspector.SourceLive, 20*time.Second)
	})

	t.Run("folder deleted and re-created while running", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "frames")
		writeFrames(t, dir, 5)
		s := startServe(t, append(fast, "--source", dir)...)
		s.waitState(t, inspector.SourceLive, 20*time.Second)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		s.checkDisconnected(t, "")
		writeFrames(t, dir, 5)
		st := s.waitState(t, inspector.SourceLive, 20*time.Second)
		if st.SourceError != "" {
			t.Errorf("live again but the error %q stays", st.SourceError)
		}
	})

	t.Run("video file replaced mid-run", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "feed.avi")
		writeVideo(t, path, 10)
		s := startServe(t, append(fast, "--source", path)...)
		s.waitState(t, inspector.SourceLive, 20*time.Second)
		// Overwritten in place by something that is no video: at the end of
		// the loop the source notices the new file, and opening it fails.
		if err := os.WriteFile(path, []byte("this is not a video any more"), 0o644); err != nil {
			t.Fatal(err)
		}
		s.checkDisconnected(t, path)
		before := s.status(t).Frames
		writeVideo(t, path, 10)
		s.waitState(t, inspector.SourceLive, 20*time.Second)
		deadline := time.Now().Add(10 * time.Second)
		for s.status(t).Frames <= before {
			if time.Now().After(deadline) {
				t.Fatal("no new frames from the replaced video")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestOperatorPageShowsLostCamera opens the operator page of a station
// whose camera is not there, in headless Chromium: a large grey "Camera not
// available" tile with the reason stands where the live view would be.
func TestOperatorPageShowsLostCamera(t *testing.T) {
	t.Parallel() // a whole station each: they mostly wait on frames, browsers and brokers
	s := startServe(t, "--source", "7", "--reconnect-max", "200ms")
	s.waitState(t, inspector.SourceDisconnected, 20*time.Second)
	ctx := browsertest.New(t, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate("http://"+s.addr+"/"), chromedp.WaitVisible("#no-camera")); err != nil {
		t.Fatalf("operator page: %v\n%s", err, s.out.String())
	}
	run := func(a chromedp.Action[string]) string {
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	title, reason := run(chromedp.Text("#no-camera .no-camera-title")), run(chromedp.Text("#no-camera-reason"))
	visible, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`getComputedStyle(document.getElementById("live")).visibility !== "hidden"`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if title != "Camera not available" || !strings.Contains(reason, "source 7") {
		t.Errorf("tile says %q / %q", title, reason)
	}
	if visible {
		t.Error("the stale live view is still visible behind the tile")
	}
	if *updateScreenshots {
		if err := os.WriteFile(filepath.Join("..", "..", "station-ui", "screenshots", "operator-camera-lost.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// seedUsers writes a user store at path holding one engineer, hashed at
// bcrypt's lowest cost.
func seedUsers(t *testing.T, path string) {
	t.Helper()
	users, err := bolt.OpenAuth(path)
	if err != nil {
		t.Fatal(err)
	}
	svc := auth.NewService(users, bcrypt.MinCost, nil)
	if err := svc.AddUser(context.Background(), auth.Actor{Name: "test"}, "tester", "tester's password", []auth.Role{auth.RoleEngineer}); err != nil {
		t.Fatal(err)
	}
}
