package opencv

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
)

// A camera that stops delivering (here a recording that ends) pauses a
// timed capture session; with the camera back, it resumes and finishes.
func TestStillCameraLostPausesSession(t *testing.T) {
	src, err := OpenSource(writeVideo(t, 5), SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	cam := NewStillCamera(src, &inspector.Rect{X: 8, Y: 8, W: 32, H: 24})
	defer cam.Close()
	b, err := cam.Grab(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if img, err := jpeg.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() != 32 || img.Bounds().Dy() != 24 {
		t.Fatalf("frame cut to the ROI: %v %v", img.Bounds(), err)
	}
	// Plain test frames: only the camera is under test, not the gates.
	off := capture.Gates{MinSharpness: -1, MaxClipped: -1, MinPresence: -1, MaxDuplicate: -1}
	st := &capture.Store{Root: t.TempDir()}
	s, err := capture.NewSession(capture.Spec{Target: capture.Target{Class: "plain"}, Mode: capture.Timed, Angles: 8, Interval: time.Millisecond}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := &capture.Runner{Store: st, Camera: cam, Gates: off}
	err = r.Run(context.Background(), s)
	if !errors.Is(err, capture.ErrPaused) || !errors.Is(err, capture.ErrCameraLost) {
		t.Fatalf("err = %v, want paused by the lost camera", err)
	}
	if s.State != capture.Paused || len(s.Frames) != 4 {
		t.Fatalf("%s with %d frames", s.State, len(s.Frames))
	}
	src2, err := OpenSource(writeVideo(t, 5), SourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src2.Close()
	cam2 := NewStillCamera(src2, nil)
	defer cam2.Close()
	r.Camera = cam2
	if err := r.Run(context.Background(), s); err != nil || s.State != capture.Done || len(s.Frames) != 8 {
		t.Fatalf("resume: %v, %s with %d frames", err, s.State, len(s.Frames))
	}
}
