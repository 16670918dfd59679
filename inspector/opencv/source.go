package opencv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
)

// SourceKind is what a source spec names.
type SourceKind string

// The kinds of source a spec can name.
const (
	KindDevice  SourceKind = "device"  // "0": a camera by index, or /dev/video0
	KindURL     SourceKind = "url"     // rtsp://, http://, https://
	KindPattern SourceKind = "pattern" // frames/%04d.png
	KindDir     SourceKind = "dir"     // a folder of images, read in name order
	KindFile    SourceKind = "file"    // a video file
)

// ParseSourceSpec says what kind of source spec names: a number below 100
// or a /dev/video path is a camera, an rtsp, http or https URL a stream, a
// path containing % an image sequence, an existing folder a folder of images,
// and anything else a video file. It returns an error only for an empty spec.
func ParseSourceSpec(spec string) (SourceKind, error) {
	switch {
	case spec == "":
		return "", errors.New("source: empty spec")
	case isDeviceIndex(spec), strings.HasPrefix(spec, "/dev/video"):
		return KindDevice, nil
	case strings.HasPrefix(spec, "rtsp://"), strings.HasPrefix(spec, "http://"), strings.HasPrefix(spec, "https://"):
		return KindURL, nil
	case strings.Contains(spec, "%"):
		return KindPattern, nil
	}
	if isDir(spec) {
		return KindDir, nil
	}
	return KindFile, nil
}

func isDeviceIndex(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n < 100
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// SourceOptions tune a source.
type SourceOptions struct {
	// Loop rewinds file, folder and sequence sources at their end.
	Loop bool
	// FPS paces file, folder and sequence sources to this rate, so a demo
	// video plays in real time; 0 reads as fast as the caller asks.
	FPS float64
	// Sleep and Now are the clock, for tests; nil means the real one.
	Sleep func(time.Duration)
	Now   func() time.Time
}

// Source delivers frames from a camera, stream, video file, image sequence
// or folder. It is not safe for concurrent Reads. Close may be called from
// another goroutine; it waits for a Read in progress, because OpenCV cannot
// release a capture that is being read.
type Source struct {
	spec string
	kind SourceKind
	opt  SourceOptions

	mu     sync.Mutex
	cap    *gocv.VideoCapture // device, url, file, pattern
	opened os.FileInfo        // file: what was opened, to notice a replacement
	files  []string           // dir
	next   int
	closed bool
	last   time.Time
}

// OpenSource opens spec (see ParseSourceSpec). A missing file or folder, a
// folder without images, or a device or stream that cannot be opened is an
// error.
func OpenSource(spec string, opt SourceOptions) (*Source, error) {
	kind, err := ParseSourceSpec(spec)
	if err != nil {
		return nil, err
	}
	if opt.Sleep == nil {
		opt.Sleep = time.Sleep
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Source{spec: spec, kind: kind, opt: opt}
	switch kind {
	case KindDir:
		entries, err := os.ReadDir(spec)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", spec, err)
		}
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".jpg", ".jpeg", ".png", ".bmp", ".webp":
				if !e.IsDir() {
					s.files = append(s.files, filepath.Join(spec, e.Name()))
				}
			}
		}
		sort.Strings(s.files)
		if len(s.files) == 0 {
			return nil, fmt.Errorf("source %s: folder holds no images", spec)
		}
		return s, nil
	case KindFile:
		if _, err := os.Stat(spec); err != nil {
			return nil, fmt.Errorf("source %s: %w", spec, err)
		}
	case KindPattern:
		if _, err := os.Stat(filepath.Dir(spec)); err != nil {
			return nil, fmt.Errorf("source %s: %w", spec, err)
		}
	}
	if err := s.openCapture(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Source) openCapture() error {
	var vc *gocv.VideoCapture
	var err error
	if id, convErr := strconv.Atoi(s.spec); s.kind == KindDevice && convErr == nil {
		vc, err = gocv.OpenVideoCapture(id)
	} else {
		vc, err = gocv.OpenVideoCapture(s.spec)
	}
	if err != nil {
		return fmt.Errorf("source %s: %w", s.spec, err)
	}
	if !vc.IsOpened() {
		vc.Close()
		return fmt.Errorf("source %s: cannot open %s", s.spec, s.kind)
	}
	s.cap = vc
	if s.kind == KindFile {
		s.opened, _ = os.Stat(s.spec)
	}
	return nil
}

// replaced reports whether the video file at the spec is no longer the one
// that was opened (deleted, rewritten or renamed over), so a loop starts the
// new one instead of replaying the old one from memory.
func (s *Source) replaced() bool {
	if s.kind != KindFile || s.opened == nil {
		return false
	}
	now, err := os.Stat(s.spec)
	return err != nil || !os.SameFile(now, s.opened) || now.Size() != s.opened.Size() || !now.ModTime().Equal(s.opened.ModTime())
}

// Name is the spec the source was opened with.
func (s *Source) Name() string { return s.spec }

// Kind is what the spec named.
func (s *Source) Kind() SourceKind { return s.kind }

// FileLike reports whether the source is a recording (it can end and loop).
func (s *Source) FileLike() bool {
	return s.kind == KindFile || s.kind == KindPattern || s.kind == KindDir
}

// Read reads the next frame into dst. At the end of a recording it rewinds
// when looping, else returns inspector.ErrSourceEnded. After Close it
// returns inspector.ErrSourceClosed. Any other error means the source
// failed (a camera unplugged, a stream dropped): reopen it.
func (s *Source) Read(dst *gocv.Mat) error {
	s.pace()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return inspector.ErrSourceClosed
	}
	if s.kind == KindDir {
		return s.readDir(dst)
	}
	if s.cap == nil {
		return fmt.Errorf("source %s: capture lost after a failed reopen", s.spec)
	}
	if s.cap.Read(dst) && !dst.Empty() {
		return nil
	}
	if !s.FileLike() {
		return fmt.Errorf("source %s: no frame (device or stream lost)", s.spec)
	}
	if !s.opt.Loop {
		return inspector.ErrSourceEnded
	}
	if !s.replaced() {
		s.cap.Set(gocv.VideoCapturePosFrames, 0)
		if s.cap.Read(dst) && !dst.Empty() {
			return nil
		}
	}
	// Some backends (image sequences among them) cannot seek: start afresh.
	s.cap.Close()
	s.cap = nil
	if err := s.openCapture(); err != nil {
		return err
	}
	if s.cap.Read(dst) && !dst.Empty() {
		return nil
	}
	// An empty recording would otherwise loop forever without a frame.
	return fmt.Errorf("source %s: no frame after rewinding", s.spec)
}

func (s *Source) readDir(dst *gocv.Mat) error {
	if s.next >= len(s.files) {
		if !s.opt.Loop {
			return inspector.ErrSourceEnded
		}
		s.next = 0
	}
	p := s.files[s.next]
	s.next++
	m, err := ReadImageFile(p, Limits{})
	if err != nil {
		return fmt.Errorf("source %s: %w", s.spec, err)
	}
	defer m.Close()
	m.CopyTo(dst)
	return nil
}

// pace sleeps so a recording plays at opt.FPS.
func (s *Source) pace() {
	if s.opt.FPS <= 0 || !s.FileLike() {
		return
	}
	period := time.Duration(float64(time.Second) / s.opt.FPS)
	now := s.opt.Now()
	if !s.last.IsZero() {
		if wait := s.last.Add(period).Sub(now); wait > 0 {
			s.opt.Sleep(wait)
			now = now.Add(wait)
		}
	}
	s.last = now
}

// Close releases the capture. It is safe to call more than once.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.cap != nil {
		return s.cap.Close()
	}
	return nil
}
