package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func TestParseROI(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *inspector.Rect
		bad  bool
	}{
		{"", nil, false},
		{"10,20,300,200", &inspector.Rect{X: 10, Y: 20, W: 300, H: 200}, false},
		{" 1, 2, 3, 4 ", &inspector.Rect{X: 1, Y: 2, W: 3, H: 4}, false},
		{"1,2,3", nil, true},
		{"1,2,0,4", nil, true},
		{"a,2,3,4", nil, true},
		{"-1,2,3,4", nil, true},
	} {
		got, err := parseROI(tc.in)
		if (err != nil) != tc.bad {
			t.Errorf("%q: err %v", tc.in, err)
			continue
		}
		if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// resolved runs serve with args and returns the settings it would use.
func resolved(t *testing.T, args ...string) (serveConfig, error) {
	t.Helper()
	var got serveConfig
	cmd := newServeCmdWith(func(_ *cobra.Command, c serveConfig) error { got = c; return nil })
	cmd.SetArgs(args)
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	return got, err
}

func TestServeConfigFileAndFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "station.yaml")
	yaml := "source: rtsp://cam/stream\nloop: false\ntrigger: auto\nstill_ms: 900\nlisten: 0.0.0.0:9000\noperator: Ana\naccept: 0.7\nroi: 1,2,3,4\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	def, err := resolved(t)
	if err != nil {
		t.Fatal(err)
	}
	if def.Source != "" || !*def.Loop || def.Trigger != "continuous" || def.Listen != "127.0.0.1:8080" ||
		def.Store != "station-data/verdicts.db" || def.Models != "models" || def.Quality != 90 || def.MaxSide != 0 {
		t.Errorf("defaults: %+v", def)
	}
	c, err := resolved(t, "--config", path, "--trigger", "manual", "--operator", "Ben", "--stable-frames", "8")
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != "rtsp://cam/stream" || *c.Loop || c.StillMS != 900 || c.Listen != "0.0.0.0:9000" || c.Accept != 0.7 || c.ROI != "1,2,3,4" {
		t.Errorf("file values not taken: %+v", c)
	}
	if c.Trigger != "manual" || c.Operator != "Ben" || c.Stable != 8 {
		t.Errorf("flags did not override the file: %+v", c)
	}
	if c, _ := resolved(t, "--config", path, "--loop"); !*c.Loop {
		t.Error("--loop did not override loop: false")
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("sauce: 0\n"), 0o644)
	if _, err := resolved(t, "--config", bad); err == nil || !strings.Contains(err.Error(), "sauce") {
		t.Errorf("unknown key: %v", err)
	}
	if _, err := resolved(t, "--config", filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Error("missing config file accepted")
	}
}

func TestServeHelpExplainsEveryFlag(t *testing.T) {
	cmd := newServeCmd()
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if len(f.Usage) < 10 {
			t.Errorf("--%s has no real help", f.Name)
		}
	})
}

func TestServeMissingDefaults(t *testing.T) {
	repo, _ := filepath.Abs("../..")
	lib := filepath.Join(repo, ".deps", "onnxruntime", ortLibName)
	t.Chdir(t.TempDir())
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("no ONNX Runtime at %s: run make setup", lib)
	}
	// The model is checked before anything is drawn or served.
	err := runServeArgs(t, "serve", "--ort-lib", lib)
	if err == nil || !strings.Contains(err.Error(), "make models") || !strings.Contains(err.Error(), defaultModel) {
		t.Errorf("missing model: %v", err)
	}
	err = runServeArgs(t, "serve", "--trigger", "sometimes")
	if err == nil || !strings.Contains(err.Error(), "continuous, manual or auto") {
		t.Errorf("bad trigger: %v", err)
	}
}

func runServeArgs(t *testing.T, args ...string) error {
	t.Helper()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	return root.ExecuteContext(context.Background())
}

// syncBuffer is a bytes.Buffer safe to read while serve writes to it.
type syncBuffer struct {
	mu chan struct{}
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu <- struct{}{}
	defer func() { <-s.mu }()
	return s.b.String()
}

// TestServeEndToEnd runs `pruefplatz serve` on port 0 with a short demo
// feed drawn for the test and the repository's default model, checks the UI
// answers with live status and verdicts, then stops it like Ctrl-C.
func TestServeEndToEnd(t *testing.T) {
	t.Parallel() // a whole station each: they mostly wait on frames, browsers and brokers
	feed := stationFeed(t)
	s := startServeBootstrap(t, "--source", feed, "--fps", "60")
	deadline := time.Now().Add(30 * time.Second)
	var st inspector.StationStatus
	for time.Now().Before(deadline) {
		if st = s.status(t); st.Live != nil && st.Frames > 30 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.SourceState != inspector.SourceLive || st.Model.Name != defaultModel || st.Live == nil {
		t.Errorf("status %+v", st)
	}
	// The first start made an admin and printed its password once; the
	// kiosk (this loopback client) sees the live page, nothing more (the
	// engineer page answers 403 with the login form).
	if !regexp.MustCompile(`created user "admin" .*\n\n    \S{20}\n`).MatchString(s.out.String()) {
		t.Errorf("no first-start admin password in the output:\n%s", s.out.String())
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]int{"/": 200, "/engineer": 403, "/api/models": 403, "/api/backup": 403} {
		resp, err := noRedirect.Get("http://" + s.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s as the kiosk: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.store), "auth.db")); err != nil {
		t.Errorf("no auth store beside the verdict store: %v", err)
	}
	if err := s.stop(); err != nil {
		t.Errorf("serve ended with %v", err)
	}
}
