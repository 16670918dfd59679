package demo

import (
	"bytes"
	"context"
	"image/jpeg"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/capture"
)

// captureSession runs a simulated turntable session of angles views for
// one part into dir, with the empty turntable as the presence background.
func captureSession(t testing.TB, dir, class string, part, angles int) *capture.Session {
	t.Helper()
	tt, err := NewTurntable(1, class, part)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := tt.Empty()
	if err != nil {
		t.Fatal(err)
	}
	bg, err := jpeg.Decode(bytes.NewReader(empty))
	if err != nil {
		t.Fatal(err)
	}
	s, err := capture.NewSession(capture.Spec{Target: capture.Target{Class: class}, Angles: angles, Rig: tt.Name(),
		Camera: capture.CameraInfo{Source: "demo turntable", Width: Width, Height: Height}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := &capture.Runner{Store: &capture.Store{Root: dir}, Rig: tt, Camera: tt, Gates: capture.Gates{Background: bg}}
	if err := r.Run(context.Background(), s); err != nil {
		t.Fatalf("%s part %d: %v (rejected %+v)", class, part, err, s.Rejected)
	}
	return s
}

// Every demo part, turned through 12 angles on the simulated turntable,
// passes every gate on the first try.
func TestTurntableFramesPassGates(t *testing.T) {
	dir := t.TempDir()
	for _, class := range PartClasses {
		t.Run(class, func(t *testing.T) {
			s := captureSession(t, dir, class, 0, 12)
			if len(s.Rejected) != 0 || len(s.Frames) != 12 {
				t.Fatalf("%d frames, rejected %+v", len(s.Frames), s.Rejected)
			}
		})
	}
	if _, err := NewTurntable(1, "sprocket", 0); err == nil {
		t.Fatal("unknown class accepted")
	}
}
