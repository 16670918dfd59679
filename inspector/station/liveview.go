package station

import (
	"fmt"
	"image/color"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
)

// The live view: the newest frame with the ROI and the live decision drawn
// on it, encoded only when someone watches.

// LatestJPEG returns the newest frame with the ROI and the live decision
// drawn on it, and its sequence number (nil and 0 before the first frame).
// It encodes lazily, only when asked, at most once per frame and at most
// about 15 times a second however many viewers ask; in between it returns
// the cached image.
func (s *Station) LatestJPEG() ([]byte, uint64) {
	s.jpegMu.Lock()
	defer s.jpegMu.Unlock()
	s.mu.Lock()
	seq := s.seq
	if seq == 0 || s.latest.Empty() {
		s.mu.Unlock()
		return nil, 0
	}
	if seq == s.jpegSeq || (s.jpeg != nil && time.Since(s.jpegAt) < liveInterval) {
		s.mu.Unlock()
		return s.jpeg, s.jpegSeq
	}
	// Copy under the lock, draw and encode outside it: the reader must not wait.
	s.latest.CopyTo(&s.overlay)
	live, present := s.live, s.present
	s.mu.Unlock()
	text, c := overlayText(live, present)
	opencv.DrawOverlay(&s.overlay, s.roi(), text, c)
	b, err := opencv.EncodeJPEG(s.overlay, 80)
	if err != nil {
		s.limited("live view", "live view encode failed", "err", err)
		return s.jpeg, s.jpegSeq
	}
	s.jpeg, s.jpegSeq, s.jpegAt = b, seq, time.Now()
	return b, seq
}

// liveInterval bounds live-view encoding to about 15 frames a second.
const liveInterval = 66 * time.Millisecond

func overlayText(d *inspector.Decision, present bool) (string, color.RGBA) {
	if d == nil || len(d.TopK) == 0 {
		return "", color.RGBA{90, 90, 90, 255}
	}
	if !present {
		// The model answers on the empty table too; shown as a red NOK it
		// would look like a rejected part.
		return "no part", color.RGBA{90, 90, 90, 255}
	}
	top := d.TopK[0]
	txt := fmt.Sprintf("%s %.0f%%", top.Label, 100*top.Score)
	switch d.Outcome {
	case inspector.OutcomeOK:
		return "OK  " + txt, color.RGBA{40, 160, 40, 255}
	case inspector.OutcomeNOK:
		return "NOK  " + txt, color.RGBA{210, 40, 40, 255}
	case inspector.OutcomeUncertain:
		return "?  " + txt, color.RGBA{230, 160, 0, 255}
	}
	return txt, color.RGBA{30, 110, 200, 255}
}

// roi is the region the classifier looks at: the configured one, else the
// active model's (a defect model trained on a placement mark has one).
func (s *Station) roi() *inspector.Rect {
	if s.cfg.ROI != nil {
		return s.cfg.ROI
	}
	if m := s.model.Load(); m != nil && m.Card != nil {
		return m.Card.Input.ROI
	}
	return nil
}
