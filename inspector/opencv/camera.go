package opencv

import (
	"context"
	"errors"
	"fmt"
	"image"
	"sync"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"gocv.io/x/gocv"
)

// StillCamera takes single frames from a Source for capture sessions: it
// implements capture.Camera. The frame is cut to the station's ROI, so a
// captured image is what the model sees, and encoded as JPEG.
type StillCamera struct {
	src     *Source
	roi     *inspector.Rect
	quality int
	mu      sync.Mutex
	frame   gocv.Mat
}

// NewStillCamera takes frames from src (which it does not own), cut to roi
// when not nil, as JPEG of quality 95.
func NewStillCamera(src *Source, roi *inspector.Rect) *StillCamera {
	return &StillCamera{src: src, roi: roi, quality: 95, frame: gocv.NewMat()}
}

// Grab reads the next frame. A source that fails or ends gives an error
// wrapping capture.ErrCameraLost.
func (c *StillCamera) Grab(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.src.Read(&c.frame); err != nil {
		if errors.Is(err, inspector.ErrSourceEnded) || errors.Is(err, inspector.ErrSourceClosed) {
			return nil, fmt.Errorf("%w: %s: %w", capture.ErrCameraLost, c.src.Name(), err)
		}
		return nil, fmt.Errorf("%w: %w", capture.ErrCameraLost, err)
	}
	m := c.frame
	if c.roi != nil && !c.roi.Empty() {
		r := image.Rect(c.roi.X, c.roi.Y, c.roi.X+c.roi.W, c.roi.Y+c.roi.H).Intersect(image.Rect(0, 0, m.Cols(), m.Rows()))
		if !r.Empty() {
			region := m.Region(r)
			defer region.Close()
			m = region
		}
	}
	return EncodeJPEG(m, c.quality)
}

// Close frees the frame buffer.
func (c *StillCamera) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frame.Close()
}
