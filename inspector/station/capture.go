package station

import (
	"context"
	"fmt"
	"image"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"gocv.io/x/gocv"
)

// FrameJPEG returns the newest frame as the camera gave it (no overlay),
// cut to the station's ROI, as JPEG, with its sequence number; nil and 0
// before the first frame.
func (s *Station) FrameJPEG() ([]byte, uint64, error) {
	m := gocv.NewMat()
	defer m.Close()
	s.mu.Lock()
	seq := s.seq
	if seq == 0 || s.latest.Empty() {
		s.mu.Unlock()
		return nil, 0, nil
	}
	s.latest.CopyTo(&m)
	s.mu.Unlock()
	out := m
	if roi := s.roi(); roi != nil && !roi.Empty() {
		r := image.Rect(roi.X, roi.Y, roi.X+roi.W, roi.Y+roi.H).Intersect(image.Rect(0, 0, m.Cols(), m.Rows()))
		if !r.Empty() {
			out = m.Region(r)
			defer out.Close()
		}
	}
	b, err := opencv.EncodeJPEG(out, 95)
	return b, seq, err
}

// CaptureCamera is the station's camera as a capture.Camera: each Grab
// waits for a frame newer than the last one it returned, so a frozen
// camera is noticed. It implements capture.Camera.
type CaptureCamera struct {
	St *Station
	// Timeout is how long Grab waits for a new frame (default 3 s).
	Timeout time.Duration
	last    uint64
}

var _ capture.Camera = (*CaptureCamera)(nil)

// Grab returns the next frame (FrameJPEG). It returns an error wrapping
// capture.ErrCameraLost when no new frame comes within Timeout.
func (c *CaptureCamera) Grab(ctx context.Context) ([]byte, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		b, seq, err := c.St.FrameJPEG()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", capture.ErrCameraLost, err)
		}
		if seq > c.last && b != nil {
			c.last = seq
			return b, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: no new frame from the station's camera (%s) in %s", capture.ErrCameraLost, c.St.Status().Source, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
