package opencv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
)

// writeFrames writes n 64×48 frames whose blue value is 10·i, with the writer
// given (a video writer or an image per file).
func frame(i int) gocv.Mat {
	return gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(10*i), 100, 50, 0), 48, 64, gocv.MatTypeCV8UC3)
}

func writeVideo(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "feed.avi")
	w, err := gocv.VideoWriterFile(p, "MJPG", 10, 64, 48, true)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		m := frame(i)
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	w.Close()
	return p
}

func writeImages(t *testing.T, n int, pattern string) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i < n; i++ {
		m := frame(i)
		if !gocv.IMWrite(filepath.Join(dir, fmt.Sprintf(pattern, i)), m) {
			t.Fatal("imwrite failed")
		}
		m.Close()
	}
	return dir
}

func readAll(t *testing.T, s *Source, max int) (n int, blues []int, err error) {
	t.Helper()
	m := gocv.NewMat()
	defer m.Close()
	for n < max {
		if err = s.Read(&m); err != nil {
			return n, blues, err
		}
		blues = append(blues, int(m.GetVecbAt(5, 5)[0]))
		n++
	}
	return n, blues, nil
}

func TestSourcesReadToEnd(t *testing.T) {
	video := writeVideo(t, 12)
	seq := writeImages(t, 7, "%04d.png")
	dir := writeImages(t, 5, "frame_%02d.jpg")
	cases := []struct {
		name string
		spec string
		kind SourceKind
		n    int
	}{
		{"video file", video, KindFile, 12},
		{"image sequence", filepath.Join(seq, "%04d.png"), KindPattern, 7},
		{"folder", dir, KindDir, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := OpenSource(c.spec, SourceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Kind() != c.kind {
				t.Errorf("kind %s, want %s", s.Kind(), c.kind)
			}
			n, blues, err := readAll(t, s, 1000)
			if !errors.Is(err, inspector.ErrSourceEnded) {
				t.Fatalf("err after %d frames = %v, want ErrSourceEnded", n, err)
			}
			if n != c.n {
				t.Errorf("read %d frames, want %d", n, c.n)
			}
			if c.kind != KindFile { // lossless or near-lossless: the order shows in the blue value
				for i, b := range blues {
					if d := b - 10*i; d < -4 || d > 4 {
						t.Errorf("frame %d blue %d, want about %d", i, b, 10*i)
					}
				}
			}
		})
	}
}

func TestSourcesLoop(t *testing.T) {
	cases := []struct {
		name string
		spec string
		n    int // frames in the recording
	}{
		{"video", writeVideo(t, 4), 4},
		{"sequence", filepath.Join(writeImages(t, 3, "%03d.png"), "%03d.png"), 3},
		{"folder", writeImages(t, 3, "%d.png"), 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := OpenSource(c.spec, SourceOptions{Loop: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			n, blues, err := readAll(t, s, 10)
			if err != nil || n != 10 {
				t.Fatalf("looping read %d frames, err %v", n, err)
			}
			// Frame i of the recording has blue 10·i (MJPG is lossy: allow a little).
			for i, b := range blues {
				if d := b - 10*(i%c.n); d < -4 || d > 4 {
					t.Errorf("read %d: blue %d, want about %d (frames %v)", i, b, 10*(i%c.n), blues)
				}
			}
		})
	}
}

func TestSourceClosed(t *testing.T) {
	s, err := OpenSource(writeVideo(t, 3), SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close()
	m := gocv.NewMat()
	defer m.Close()
	if err := s.Read(&m); !errors.Is(err, inspector.ErrSourceClosed) {
		t.Errorf("read after close: %v", err)
	}
}

func TestOpenSourceErrors(t *testing.T) {
	empty := t.TempDir()
	junk := filepath.Join(t.TempDir(), "junk.avi")
	os.WriteFile(junk, []byte("not a video"), 0o644)
	for name, spec := range map[string]string{
		"missing file":      "/nonexistent/feed.avi",
		"missing sequence":  "/nonexistent/%04d.png",
		"folder, no images": empty,
		"not a video":       junk,
		"empty spec":        "",
	} {
		t.Run(name, func(t *testing.T) {
			s, err := OpenSource(spec, SourceOptions{})
			if err == nil {
				s.Close()
				t.Fatalf("opened %q", spec)
			}
		})
	}
}

func TestParseSourceSpec(t *testing.T) {
	dir := t.TempDir()
	for spec, want := range map[string]SourceKind{
		"0":                         KindDevice,
		"2":                         KindDevice,
		"rtsp://cam.local/stream":   KindURL,
		"http://10.0.0.5:8080/mjpg": KindURL,
		"frames/%04d.png":           KindPattern,
		"/dev/video2":               KindDevice,
		"100":                       KindFile,
		dir:                         KindDir,
		"feed.avi":                  KindFile,
	} {
		got, err := ParseSourceSpec(spec)
		if err != nil || got != want {
			t.Errorf("%q: %s %v, want %s", spec, got, err, want)
		}
	}
}

func TestSourcePacing(t *testing.T) {
	now := time.Unix(0, 0)
	var slept time.Duration
	opt := SourceOptions{FPS: 10, Loop: true,
		Now:   func() time.Time { return now },
		Sleep: func(d time.Duration) { slept += d; now = now.Add(d) },
	}
	s, err := OpenSource(writeImages(t, 2, "%d.png"), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, _, err := readAll(t, s, 6); err != nil {
		t.Fatal(err)
	}
	// The first frame comes at once, each later one 100 ms after the last.
	if slept != 500*time.Millisecond {
		t.Errorf("slept %v for 6 frames at 10 fps, want 500ms", slept)
	}

	// A reader slower than the rate is not slowed further.
	slept = 0
	m := gocv.NewMat()
	defer m.Close()
	for i := 0; i < 3; i++ {
		now = now.Add(150 * time.Millisecond)
		if err := s.Read(&m); err != nil {
			t.Fatal(err)
		}
	}
	if slept != 0 {
		t.Errorf("slept %v although each read came 150ms after the last", slept)
	}
}

func TestSourceEmptyRecordingLoopErrors(t *testing.T) {
	// A video with no frames must not spin when looping.
	p := filepath.Join(t.TempDir(), "empty.avi")
	w, err := gocv.VideoWriterFile(p, "MJPG", 10, 64, 48, true)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	s, err := OpenSource(p, SourceOptions{Loop: true})
	if err != nil {
		t.Skipf("OpenCV does not open an empty video here: %v", err)
	}
	defer s.Close()
	m := gocv.NewMat()
	defer m.Close()
	if err := s.Read(&m); err == nil || errors.Is(err, inspector.ErrSourceEnded) {
		t.Errorf("read from an empty looping video: %v, want a failure", err)
	}
}
