package capture

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/capture/capturetest"
)

func newSession(t *testing.T, spec Spec) *Session {
	t.Helper()
	if spec.Target == (Target{}) {
		spec.Target = Target{Class: "bracket"}
	}
	s, err := NewSession(spec, time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewSessionRejectsBadSpecs(t *testing.T) {
	for name, spec := range map[string]Spec{
		"no target":    {Mode: Turntable},
		"both targets": {Target: Target{Class: "a", Part: "B-1"}},
		"path in name": {Target: Target{Class: "../etc"}},
		"bad mode":     {Target: Target{Class: "a"}, Mode: "robot"},
		"angles":       {Target: Target{Class: "a"}, Angles: 400},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewSession(spec, time.Now()); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	s := newSession(t, Spec{Angles: 8, Flip: true, Mode: Hand})
	if len(s.Views) != 16 || s.Views[8].Ask != "flip the part over" || s.Views[1].Ask != "turn the part 45°" {
		t.Fatalf("views = %+v", s.Views)
	}
	if !ValidID(s.ID) {
		t.Fatalf("id %q does not match its own pattern", s.ID)
	}
}

func TestGates(t *testing.T) {
	bg, _ := jpeg.Decode(bytes.NewReader(capturetest.Table(0, true, 0, 1, 1)))
	good, _ := jpeg.Decode(bytes.NewReader(capturetest.Table(0, false, 0, 1, 2)))
	_, ok := (Gates{Background: bg}).Check(good, nil)
	if ok != "" {
		t.Fatalf("a sharp, well-exposed part was rejected: %s", ok)
	}
	goodHash := signature(Grey(good))
	cases := []struct {
		name    string
		img     []byte
		earlier []Signature
		want    string
	}{
		{"empty table", capturetest.Table(0, true, 0, 1, 3), nil, "no part in view"},
		{"blurred", capturetest.Table(0, false, 8, 1, 4), nil, "too blurry"},
		{"overexposed", capturetest.Table(0, false, 0, 2.2, 5), nil, "badly exposed"},
		{"same view again", capturetest.Table(0, false, 0, 1, 6), []Signature{goodHash}, "near duplicate of frame 1"},
		{"turned 30°", capturetest.Table(30, false, 0, 1, 7), []Signature{goodHash}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, err := jpeg.Decode(bytes.NewReader(c.img))
			if err != nil {
				t.Fatal(err)
			}
			m, reason := (Gates{Background: bg}).Check(img, c.earlier)
			t.Logf("%s: %+v", c.name, m)
			if c.want == "" && reason != "" || !strings.Contains(reason, c.want) {
				t.Fatalf("reason = %q, want %q (measures %+v)", reason, c.want, m)
			}
		})
	}
	// Without an empty table the border stands in for it.
	empty, _ := jpeg.Decode(bytes.NewReader(capturetest.Table(0, true, 0, 1, 8)))
	if _, r := (Gates{}).Check(empty, nil); !strings.Contains(r, "no part") {
		t.Fatalf("border estimate: empty table passed (%q)", r)
	}
	if _, r := (Gates{}).Check(good, nil); r != "" {
		t.Fatalf("border estimate: part rejected: %s", r)
	}
}

// checkSession verifies the files on disk against the manifest: every
// listed frame exists with its hash, no frame or temporary file is unlisted.
func checkSession(t *testing.T, st *Store, s *Session) {
	t.Helper()
	listed := map[string]bool{}
	for _, f := range s.Frames {
		b, err := os.ReadFile(filepath.Join(st.Root, filepath.FromSlash(f.File)))
		if err != nil {
			t.Fatalf("listed frame: %v", err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Fatalf("%s: sha256 differs from the manifest", f.File)
		}
		listed[f.File] = true
	}
	filepath.WalkDir(st.Root, func(p string, d os.DirEntry, err error) error {
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(st.Root, p)
		rel = filepath.ToSlash(rel)
		if strings.Contains(rel, ".tmp-") {
			t.Errorf("temporary file left: %s", rel)
		}
		if strings.HasSuffix(rel, ".jpg") && !listed[rel] {
			t.Errorf("frame on disk but not in the manifest: %s", rel)
		}
		return nil
	})
}

func TestTurntableSession(t *testing.T) {
	st := newStore(t)
	rig := &fakeRig{}
	var events []Event
	r := &Runner{Store: st, Rig: rig, Camera: &rigCamera{rig: rig}, Notify: func(_ *Session, e Event) { events = append(events, e) }}
	s := newSession(t, Spec{Rig: "fake", By: "engineer"})
	if err := r.Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(s.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Done || len(got.Frames) != 12 || got.By != "engineer" || got.Rig != "fake" {
		t.Fatalf("session = %s, %d frames, by %q, rig %q; rejected %+v", got.State, len(got.Frames), got.By, got.Rig, got.Rejected)
	}
	for i, f := range got.Frames {
		if f.Angle != float64(30*i) || !strings.HasPrefix(f.File, "bracket/"+s.ID+"_") {
			t.Fatalf("frame %d = %+v", i, f)
		}
	}
	checkSession(t, st, got)
	if events[len(events)-1].Kind != "done" || events[len(events)-1].Taken != 12 {
		t.Fatalf("last event %+v", events[len(events)-1])
	}
	sheet, err := os.Open(st.SheetPath(s.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer sheet.Close()
	if img, err := png.Decode(sheet); err != nil || img.Bounds().Dy() < 2*120 {
		t.Fatalf("contact sheet: %v", err)
	}
	// The archive holds the manifest, the sheet and every frame.
	f, err := os.Open(filepath.Join(st.Root, SessionsDir, s.ID, ArchiveName(s.ID)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	sort.Strings(names)
	if len(names) != 14 || names[12] != SheetName || names[13] != ManifestName {
		t.Fatalf("archive holds %v", names)
	}
}

func TestRigTimeoutPausesAndResumes(t *testing.T) {
	st := newStore(t)
	rig := &fakeRig{fail: func(move int) error {
		if move == 5 {
			return ErrRigTimeout
		}
		return nil
	}}
	r := &Runner{Store: st, Rig: rig, Camera: &rigCamera{rig: rig}}
	s := newSession(t, Spec{Angles: 6})
	err := r.Run(context.Background(), s)
	if !errors.Is(err, ErrPaused) || !errors.Is(err, ErrRigTimeout) {
		t.Fatalf("err = %v, want paused by the rig's timeout", err)
	}
	got, _ := st.Load(s.ID, nil)
	if got.State != Paused || len(got.Frames) != 4 || !strings.Contains(got.Reason, "rig not answering") {
		t.Fatalf("after the timeout: %s with %d frames, reason %q", got.State, len(got.Frames), got.Reason)
	}
	checkSession(t, st, got)
	if err := r.Run(context.Background(), got); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if got.State != Done || len(got.Frames) != 6 || got.Frames[4].Angle != 240 {
		t.Fatalf("resumed: %s with %d frames", got.State, len(got.Frames))
	}
	checkSession(t, st, got)
}

func TestCameraLostPausesAndResumes(t *testing.T) {
	st := newStore(t)
	rig := &fakeRig{}
	cam := &rigCamera{rig: rig, lost: func(shot int) bool { return shot == 4 }}
	r := &Runner{Store: st, Rig: rig, Camera: cam}
	s := newSession(t, Spec{Angles: 6})
	err := r.Run(context.Background(), s)
	if !errors.Is(err, ErrPaused) || !errors.Is(err, ErrCameraLost) {
		t.Fatalf("err = %v", err)
	}
	if s.State != Paused || len(s.Frames) != 3 {
		t.Fatalf("%s with %d frames", s.State, len(s.Frames))
	}
	if err := r.Run(context.Background(), s); err != nil || len(s.Frames) != 6 {
		t.Fatalf("resume: %v, %d frames", err, len(s.Frames))
	}
}

func TestDiskFullStopsAndKeeps(t *testing.T) {
	// About five frames and their manifests fit.
	frame := len(capturetest.Table(0, false, 0, 1, 1))
	budget := &budgetCreate{budget: 3*frame + 3*3000}
	st := &Store{Root: t.TempDir(), Create: budget.create}
	rig := &fakeRig{}
	r := &Runner{Store: st, Rig: rig, Camera: &rigCamera{rig: rig}}
	s := newSession(t, Spec{Angles: 6})
	err := r.Run(context.Background(), s)
	if !errors.Is(err, ErrStopped) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want stopped by ENOSPC", err)
	}
	if !strings.Contains(err.Error(), "all kept") {
		t.Fatalf("the error does not say the frames were kept: %v", err)
	}
	got, err := st.Load(s.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Frames) == 0 || len(got.Frames) >= 6 {
		t.Fatalf("%d frames kept", len(got.Frames))
	}
	checkSession(t, st, got)
}

func TestInterruptedSessionIsIncomplete(t *testing.T) {
	st := newStore(t)
	rig := &fakeRig{}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{Store: st, Rig: rig, Camera: &rigCamera{rig: rig}, Notify: func(_ *Session, e Event) {
		if e.Kind == "frame" && e.Taken == 3 {
			cancel()
		}
	}}
	s := newSession(t, Spec{Angles: 6})
	if err := r.Run(ctx, s); !errors.Is(err, ErrStopped) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	got, _ := st.Load(s.ID, nil)
	if got.State != Incomplete || len(got.Frames) != 3 {
		t.Fatalf("%s with %d frames", got.State, len(got.Frames))
	}
	// A writer killed mid-session leaves "running" on disk: it reads as
	// incomplete unless it is live in this process.
	got.State = Running
	if err := st.Save(got); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.Load(s.ID, nil); l.State != Incomplete {
		t.Fatalf("stale running session reads as %s", l.State)
	}
	if l, _ := st.Load(s.ID, func(string) bool { return true }); l.State != Running {
		t.Fatalf("live session reads as %s", l.State)
	}
}

func TestRejectedViewsPause(t *testing.T) {
	st := newStore(t)
	rig := &fakeRig{}
	r := &Runner{Store: st, Rig: rig, Camera: &rigCamera{rig: rig, blur: 8}}
	s := newSession(t, Spec{Angles: 4})
	err := r.Run(context.Background(), s)
	if !errors.Is(err, ErrPaused) || !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "too blurry") {
		t.Fatalf("err = %v", err)
	}
	if len(s.Rejected) != 3 || len(s.Frames) != 0 {
		t.Fatalf("%d rejected, %d frames", len(s.Rejected), len(s.Frames))
	}
}

func TestHandAndTimedModes(t *testing.T) {
	st := newStore(t)
	rig := &fakeRig{}
	var asked []string
	r := &Runner{Store: st, Camera: &rigCamera{rig: rig}, Trigger: func(ctx context.Context, s *Session, v int) error {
		asked = append(asked, s.Views[v].Ask)
		rig.angle = s.Views[v].Angle // the person turns the part
		return nil
	}}
	s := newSession(t, Spec{Mode: Hand, Angles: 4})
	if err := r.Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 4 || asked[1] != "turn the part 90°" || s.State != Done {
		t.Fatalf("asked %q, state %s", asked, s.State)
	}
	timed := newSession(t, Spec{Mode: Timed, Angles: 3, Interval: time.Millisecond})
	cam := &rigCamera{rig: rig}
	r = &Runner{Store: st, Camera: cam}
	rig.angle = 0
	r.Notify = func(_ *Session, e Event) {
		if e.Kind == "frame" {
			rig.angle += 40
		}
	}
	if err := r.Run(context.Background(), timed); err != nil || len(timed.Frames) != 3 {
		t.Fatalf("timed: %v, %d frames", err, len(timed.Frames))
	}
}

func TestDropAndMove(t *testing.T) {
	st := newStore(t)
	rig := &fakeRig{}
	r := &Runner{Store: st, Rig: rig, Camera: &rigCamera{rig: rig}}
	s := newSession(t, Spec{Angles: 4})
	if err := r.Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	drop, move := s.Frames[1].File, s.Frames[2].File
	if err := st.Drop(s, drop); err != nil {
		t.Fatal(err)
	}
	if err := st.Move(s, move, "other_part"); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Load(s.ID, nil)
	if len(got.Frames) != 3 || got.Frames[1].File != "other_part/"+filepath.Base(move) {
		t.Fatalf("frames after drop and move: %+v", got.Frames)
	}
	if _, err := os.Stat(filepath.Join(st.Root, drop)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dropped frame still there: %v", err)
	}
	checkSession(t, st, got)
	if err := st.Drop(got, "bracket/nope.jpg"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("drop of an unknown frame: %v", err)
	}
	if err := st.Move(got, got.Frames[0].File, "../x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("move to a bad name: %v", err)
	}
}

type sink struct {
	number, by, origin string
	images             [][]byte
	err                error
}

func (k *sink) AddPhotos(ctx context.Context, number string, images [][]byte, by, origin string) error {
	k.number, k.images, k.by, k.origin = number, images, by, origin
	return k.err
}

// A part session's frames become the part's reference photos; a catalogue
// that refuses them pauses the session, which keeps its frames.
func TestPartSessionGoesToCatalogue(t *testing.T) {
	st := newStore(t)
	rig := &fakeRig{}
	k := &sink{err: errors.New("catalogue: part not found")}
	r := &Runner{Store: st, Rig: rig, Camera: &rigCamera{rig: rig}, Sink: k}
	s := newSession(t, Spec{Target: Target{Part: "P-100"}, Angles: 4, By: "eva"})
	if err := r.Run(context.Background(), s); !errors.Is(err, ErrPaused) || !strings.Contains(err.Error(), "part not found") {
		t.Fatalf("refused: %v", err)
	}
	if s.State != Paused || len(s.Frames) != 4 || !strings.HasPrefix(s.Frames[0].File, "P-100/") {
		t.Fatalf("%s, %d frames", s.State, len(s.Frames))
	}
	k.err = nil
	if err := r.Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if k.number != "P-100" || len(k.images) != 4 || k.by != "eva" || k.origin != "capture:"+s.ID || s.State != Done {
		t.Fatalf("sink got %s %d images by %s from %s; state %s", k.number, len(k.images), k.by, k.origin, s.State)
	}
	if sum := sha256.Sum256(k.images[2]); hex.EncodeToString(sum[:]) != s.Frames[2].SHA256 {
		t.Fatal("the catalogue got other bytes than the manifest lists")
	}
}
