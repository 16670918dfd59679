package station

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"gocv.io/x/gocv"
)

// scene tells whether a part is on the table and whether anything moves,
// from a small grey copy of each frame against a slowly learnt empty table.
type scene struct {
	small, grey, prev gocv.Mat
	shrinker          opencv.Shrinker
	background        []float32
	have              bool
	still             int // consecutive frames without motion
}

func newScene() *scene {
	return &scene{small: gocv.NewMat(), grey: gocv.NewMat(), prev: gocv.NewMat(), shrinker: opencv.NewShrinker()}
}

func (sc *scene) Close() {
	sc.small.Close()
	sc.grey.Close()
	sc.prev.Close()
	sc.shrinker.Close()
}

// update returns the motion (mean absolute frame difference) and the share
// of pixels that differ from the empty table.
func (sc *scene) update(frame gocv.Mat, roi *inspector.Rect, motionLevel float64) (motion, presence float64) {
	in := frame
	if roi != nil && !roi.Empty() {
		r := image.Rect(roi.X, roi.Y, roi.X+roi.W, roi.Y+roi.H).Intersect(image.Rect(0, 0, frame.Cols(), frame.Rows()))
		if !r.Empty() {
			in = frame.Region(r)
			defer in.Close()
		}
	}
	// On every frame, before the classifier: the halving steps keep it at a
	// fraction of the one-step INTER_AREA's time (BenchmarkSceneUpdate).
	sc.shrinker.Shrink(in, &sc.small, 80, 60, gocv.InterpolationArea)
	if sc.small.Channels() == 3 {
		gocv.CvtColor(sc.small, &sc.grey, gocv.ColorBGRToGray)
	} else {
		sc.small.CopyTo(&sc.grey)
	}
	pix, _ := sc.grey.DataPtrUint8()
	if !sc.have {
		sc.background = make([]float32, len(pix))
		for i, v := range pix {
			sc.background[i] = float32(v)
		}
		sc.grey.CopyTo(&sc.prev)
		sc.have = true
		return 0, 0
	}
	prev, _ := sc.prev.DataPtrUint8()
	var diff float64
	differ := 0
	for i, v := range pix {
		diff += math.Abs(float64(v) - float64(prev[i]))
		if math.Abs(float64(v)-float64(sc.background[i])) > inspector.PresenceLevel {
			differ++
		}
	}
	motion = diff / float64(len(pix))
	presence = float64(differ) / float64(len(pix))
	// Learn the empty table slowly while nothing is there and nothing moves,
	// so slow light changes do not look like parts. A scene that has not
	// moved for a long time is learnt too, more slowly: otherwise a part
	// lying there at start-up (or forgotten) would make the empty table
	// look like a part for ever.
	if motion < motionLevel {
		sc.still++
	} else {
		sc.still = 0
	}
	rate := float32(0)
	switch {
	case presence < 0.005 && motion < motionLevel:
		rate = 0.05
	case sc.still > absorbAfter:
		rate = 0.02
	}
	if rate > 0 {
		for i, v := range pix {
			sc.background[i] += rate * (float32(v) - sc.background[i])
		}
	}
	sc.grey.CopyTo(&sc.prev)
	return motion, presence
}

// absorbAfter is how many still frames (about 40 s at 15 fps) make a
// lasting scene part of the background.
const absorbAfter = 600

// partState is what the worker knows of the part on the table.
type partState struct {
	present    bool
	recorded   bool
	stable     int // frames the current answer has held
	still      int // frames the part has rested
	lastLabel  string
	stillSince time.Time
}

func (s *Station) work(ctx context.Context) {
	frame := gocv.NewMat()
	defer frame.Close()
	sc := newScene()
	defer sc.Close()
	var pre *opencv.Preprocessor
	var preModel *Model
	defer func() {
		if pre != nil {
			pre.Close()
		}
	}()
	var ps partState
	var lastLive time.Time
	var tensor []float32
	failing := false // the last classification failed
	for {
		var reply chan triggerResult
		select {
		case <-ctx.Done():
			return
		case <-s.newFrame:
		case reply = <-s.triggers:
		}
		s.mu.Lock()
		if s.latest.Empty() {
			s.mu.Unlock()
			if reply != nil {
				reply <- triggerResult{err: errors.New("no frame from the camera yet")}
			}
			continue
		}
		s.latest.CopyTo(&frame)
		s.mu.Unlock()

		s.inferMu.RLock()
		m := s.model.Load()
		if m != preModel {
			if pre != nil {
				pre.Close()
			}
			spec := m.Card.Input
			if s.cfg.ROI != nil {
				spec.ROI = s.cfg.ROI
			}
			var err error
			if pre, err = opencv.NewPreprocessor(spec); err != nil {
				s.inferMu.RUnlock()
				s.setModelErr(fmt.Errorf("preprocessor: %w", err))
				preModel, pre = nil, nil
				if reply != nil {
					reply <- triggerResult{err: err}
				}
				continue
			}
			preModel, tensor = m, make([]float32, spec.TensorLen())
		}
		d, err := s.decide(ctx, m, pre, frame, tensor)
		s.inferMu.RUnlock()
		if err == nil && failing {
			failing = false
			s.clearModelErr()
		}
		if err != nil {
			failing = true
			s.setModelErr(err)
			s.limited("classify", "classification failed", "err", err)
			if reply != nil {
				reply <- triggerResult{err: err}
			}
			continue
		}
		motion, presence := sc.update(frame, s.roi(), s.cfg.MotionLevel)
		now := s.cfg.Now()
		present := presence >= s.cfg.PresenceShare
		s.mu.Lock()
		s.live, s.present = &d, present
		s.processed++
		s.mu.Unlock()
		if now.Sub(lastLive) >= 200*time.Millisecond {
			lastLive = now
			s.publish(inspector.Event{Kind: inspector.EventLive, Time: now, Live: &d, PartPresent: present})
		}
		if reply != nil {
			v, err := s.record(ctx, m, frame, d, inspector.TriggerManual, func(d *inspector.Decision) {
				s.explainLocked(ctx, m, d, tensor, pre.Spec(), frame)
			})
			reply <- triggerResult{v, err}
			continue
		}
		if rec, unsettled := s.shouldRecord(&ps, present, motion, d, now); rec {
			if unsettled {
				d.Outcome, d.Label = inspector.OutcomeUncertain, ""
			}
			s.record(ctx, m, frame, d, s.cfg.Trigger, func(d *inspector.Decision) {
				s.explainLocked(ctx, m, d, tensor, pre.Spec(), frame)
			})
		}
	}
}

// shouldRecord applies the trigger mode to the newest frame. unsettled
// says the part rested long enough but the answer kept changing: it is
// recorded as uncertain.
func (s *Station) shouldRecord(ps *partState, present bool, motion float64, d inspector.Decision, now time.Time) (record, unsettled bool) {
	if !present {
		*ps = partState{}
		return false, false
	}
	if !ps.present {
		ps.present = true
	}
	if ps.recorded {
		return false, false
	}
	label := d.Label
	if label == "" && len(d.TopK) > 0 {
		label = "?" + d.TopK[0].Label
	}
	switch s.cfg.Trigger {
	case inspector.TriggerContinuous:
		// The same answer for N frames in a row while the part is there and
		// nothing moves: answers on a part sliding in are about a blurred,
		// half-visible part.
		if motion >= s.cfg.MotionLevel {
			ps.stable, ps.still = 0, 0
			return false, false
		}
		ps.still++
		if label == ps.lastLabel {
			ps.stable++
		} else {
			ps.lastLabel, ps.stable = label, 1
		}
		if ps.stable >= s.cfg.StableFrames {
			ps.recorded = true
			return true, false
		}
		// A resting part whose answer keeps flipping (its score sits on a
		// threshold) would otherwise get no verdict at all; a human decides.
		if ps.still >= unsettledAfter*s.cfg.StableFrames {
			ps.recorded = true
			return true, true
		}
	case inspector.TriggerAuto:
		// Placed and at rest for StillFor.
		if motion >= s.cfg.MotionLevel {
			ps.stillSince = time.Time{}
			return false, false
		}
		if ps.stillSince.IsZero() {
			ps.stillSince = now
		}
		if now.Sub(ps.stillSince) >= s.cfg.StillFor {
			ps.recorded = true
			return true, false
		}
	}
	return false, false
}

// unsettledAfter × StableFrames still frames without StableFrames equal
// answers in a row make a continuous-mode verdict uncertain.
const unsettledAfter = 3

func (s *Station) decide(ctx context.Context, m *Model, pre *opencv.Preprocessor, frame gocv.Mat, tensor []float32) (inspector.Decision, error) {
	if err := pre.Run(frame, tensor); err != nil {
		return inspector.Decision{}, err
	}
	var out []float32
	var hm *inspector.Heatmap
	var err error
	// A model that can say where it looks (an anomaly model) gives its
	// heatmap, placed on the frame through the same spec that made the
	// tensor.
	if loc, ok := m.Classifier.(inspector.Locator); ok {
		out, hm, err = loc.Locate(ctx, tensor)
		if hm != nil {
			hm.Area = inspector.InputArea(pre.Spec(), frame.Cols(), frame.Rows())
		}
	} else {
		out, err = m.Classifier.Classify(ctx, tensor)
	}
	if err != nil {
		return inspector.Decision{}, err
	}
	th := m.Card.Thresholds
	if s.cfg.Thresholds != nil {
		th = *s.cfg.Thresholds
	}
	d := inspector.Decide(m.Card.Probabilities(out), m.Card.Labels, th, m.Card.OKLabels, s.cfg.TopK)
	d.Heatmap = hm
	return d, nil
}

// record stores a verdict for frame; a store failure is reported, and the
// station keeps classifying.
func (s *Station) record(ctx context.Context, m *Model, frame gocv.Mat, d inspector.Decision, trigger inspector.TriggerMode, explain func(*inspector.Decision)) (*inspector.Verdict, error) {
	v, err := s.buildVerdict(m, frame, d, string(trigger))
	if err != nil {
		return nil, err
	}
	// After the verdict's time is taken: the explanation runs the model
	// again, and the verdict belongs to the frame it was decided on.
	if explain != nil {
		explain(&v.Decision)
	}
	if s.store == nil {
		return v, nil
	}
	if err := s.store.Add(ctx, v); err != nil {
		s.mu.Lock()
		s.storeErr = err.Error()
		s.mu.Unlock()
		s.limited("store", "verdict not stored; the station keeps classifying", "err", err)
		return nil, fmt.Errorf("verdict not stored: %w", err)
	}
	s.mu.Lock()
	s.storeErr = ""
	s.mu.Unlock()
	s.publish(inspector.Event{Kind: inspector.EventVerdict, Time: v.Time, Verdict: v})
	return v, nil
}

func (s *Station) buildVerdict(m *Model, frame gocv.Mat, d inspector.Decision, trigger string) (*inspector.Verdict, error) {
	full := frame
	if side := s.cfg.ImageMaxSide; side > 0 && (frame.Cols() > side || frame.Rows() > side) {
		full = gocv.NewMat()
		defer full.Close()
		sc := float64(side) / float64(max(frame.Cols(), frame.Rows()))
		opencv.Shrink(frame, &full, max(1, int(float64(frame.Cols())*sc)), max(1, int(float64(frame.Rows())*sc)))
	}
	img, err := opencv.EncodeJPEG(full, s.cfg.JPEGQuality)
	if err != nil {
		return nil, err
	}
	// The thumbnail starts from the stored frame, smaller than the camera's
	// when ImageMaxSide is set.
	thumb, err := opencv.Thumbnail(full, s.cfg.ThumbSide, 80)
	if err != nil {
		return nil, err
	}
	th := m.Card.Thresholds
	if s.cfg.Thresholds != nil {
		th = *s.cfg.Thresholds
	}
	return &inspector.Verdict{
		Time: s.cfg.Now().UTC(), Source: s.name, Trigger: trigger, Model: m.Card.Ref(), Thresholds: th,
		Decision: d, Image: img, Thumb: thumb,
	}, nil
}

// ClassifyImage classifies an uploaded image (whole, without the camera's
// ROI) with the active model and the same preprocessing and thresholds as
// the camera; the verdict, trigger "upload", is stored only when store is
// true. Errors wrap inspector.ErrBadImage or inspector.ErrImageTooLarge for
// bad uploads; model and store errors are returned as they come.
func (s *Station) ClassifyImage(ctx context.Context, data []byte, store bool) (*inspector.Verdict, error) {
	img, err := opencv.DecodeImage(data, opencv.Limits{})
	if err != nil {
		img.Close() // DecodeImage returns a Mat to close even with an error
		return nil, err
	}
	defer img.Close()
	s.inferMu.RLock()
	defer s.inferMu.RUnlock()
	m := s.model.Load()
	if m == nil {
		return nil, errors.New("no model loaded")
	}
	s.uploadMu.Lock()
	defer s.uploadMu.Unlock()
	pre := s.uploadPre[m]
	if pre == nil {
		// Uploads are whole photos: no camera ROI.
		if pre, err = opencv.NewPreprocessor(m.Card.Input); err != nil {
			return nil, err
		}
		for old, p := range s.uploadPre {
			p.Close()
			delete(s.uploadPre, old)
		}
		s.uploadPre[m] = pre
	}
	tensor := make([]float32, m.Card.Input.TensorLen())
	d, err := s.decide(ctx, m, pre, img, tensor)
	if err != nil {
		return nil, err
	}
	s.explain(ctx, m, &d, tensor, pre.Spec(), img)
	v, err := s.buildVerdict(m, img, d, "upload")
	if err != nil || !store || s.store == nil {
		return v, err
	}
	if err := s.store.Add(ctx, v); err != nil {
		return nil, fmt.Errorf("verdict not stored: %w", err)
	}
	s.publish(inspector.Event{Kind: inspector.EventVerdict, Time: v.Time, Verdict: v})
	return v, nil
}

// explainLocked is explain under the inference lock, for the worker,
// which released it after deciding; a model swapped in meanwhile leaves
// the verdict without a map rather than running a closed session.
func (s *Station) explainLocked(ctx context.Context, m *Model, d *inspector.Decision, tensor []float32, spec inspector.InputSpec, frame gocv.Mat) {
	s.inferMu.RLock()
	defer s.inferMu.RUnlock()
	if s.model.Load() != m {
		return
	}
	s.explain(ctx, m, d, tensor, spec, frame)
}

// explain gives a classifier's recorded NOK, uncertain or class verdict
// an occlusion map (inspector.Occlusion), so the operator sees why; a
// model that locates by itself (anomaly) has its map already, and OK
// verdicts need none. A failure leaves the verdict without a map.
func (s *Station) explain(ctx context.Context, m *Model, d *inspector.Decision, tensor []float32, spec inspector.InputSpec, frame gocv.Mat) {
	if d.Heatmap != nil || d.Outcome == inspector.OutcomeOK || len(d.TopK) == 0 {
		return
	}
	if _, ok := m.Classifier.(inspector.Locator); ok {
		return
	}
	card := m.Card
	evidence := func(out []float32) float32 {
		p := card.Probabilities(out)
		if len(card.OKLabels) == 0 {
			return p[d.TopK[0].Index]
		}
		var ok float32
		for i, l := range card.Labels {
			for _, o := range card.OKLabels {
				if l == o && i < len(p) {
					ok += p[i]
				}
			}
		}
		return 1 - ok
	}
	hm, err := inspector.Occlusion(ctx, m.Classifier, tensor, spec, inspector.OcclusionGrid, evidence)
	if err != nil {
		s.limited("explain", "no explanation map for the verdict", "err", err)
		return
	}
	hm.Area = inspector.InputArea(spec, frame.Cols(), frame.Rows())
	d.Heatmap = hm
}
