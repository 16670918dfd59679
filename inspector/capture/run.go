package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"time"
)

// Rig turns the part for a turntable session: a motorised turntable or a
// robot. Implementations return errors wrapping ErrRigTimeout when the rig
// does not answer in time and ErrRig when it answers with an error.
type Rig interface {
	// Name says which rig it is, for the manifest ("sim", "serial:/dev/ttyUSB0").
	Name() string
	// Ready checks that the rig answers and can move.
	Ready(ctx context.Context) error
	// MoveTo turns to angle degrees (0 ≤ angle < 360) and returns when the
	// rig has accepted the move.
	MoveTo(ctx context.Context, angle float64) error
	// Settle returns when the rig stands still at the last angle asked.
	Settle(ctx context.Context) error
}

// Camera delivers the newest frame as JPEG: what the model will see (the
// station's ROI applied). It returns an error wrapping ErrCameraLost when
// there is none.
type Camera interface {
	Grab(ctx context.Context) ([]byte, error)
}

// PartSink takes the frames of a part session into the catalogue
// (catalogue.Service implements it).
type PartSink interface {
	AddPhotos(ctx context.Context, number string, images [][]byte, by, origin string) error
}

// Event tells a watcher (the page, the CLI) what a session does.
type Event struct {
	Session string  `json:"session"`
	Kind    string  `json:"kind"` // ask, moving, frame, rejected, paused, incomplete, done
	View    int     `json:"view"`
	Angle   float64 `json:"angle"`
	Ask     string  `json:"ask,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	File    string  `json:"file,omitempty"`
	Taken   int     `json:"taken"`
	Target  int     `json:"target"`
}

// Runner takes a session's frames: it turns the rig (or asks the person),
// grabs, checks the gates and writes every accepted frame at once.
type Runner struct {
	Store  *Store
	Camera Camera
	// Rig turns the part in turntable mode.
	Rig   Rig
	Gates Gates
	// Trigger waits, in hand mode, until the person has set up view v and
	// the frame should be taken (the part is still, or a key was pressed).
	Trigger func(ctx context.Context, s *Session, v int) error
	// Retries is how many frames in a row a view may have rejected before
	// the session pauses (default 3; hand and timed mode: 20).
	Retries int
	// Sink receives a part session's frames when it is done.
	Sink PartSink
	// Notify is told about every step (may be nil; it must not block). s
	// is the session as it stands; it must not be kept past the call.
	Notify func(s *Session, e Event)
}

func (r *Runner) notify(s *Session, e Event) {
	if r.Notify == nil {
		return
	}
	e.Session, e.Taken, e.Target = s.ID, len(s.Frames), s.TargetCount()
	r.Notify(s, e)
}

// Run takes the session's missing frames, from its next missing view on, so
// calling it again resumes a paused or incomplete session. It returns nil
// when the session is done; an error wrapping ErrPaused (with the cause:
// ErrRigTimeout, ErrRig, ErrCameraLost, ErrRejected) when a fault paused it;
// and one wrapping ErrStopped when it stopped for good (a write failed, ctx
// ended): the manifest then says incomplete and lists every kept frame.
func (r *Runner) Run(ctx context.Context, s *Session) error {
	if s.Mode == Turntable && r.Rig == nil {
		return fmt.Errorf("%w: turntable mode needs a rig", ErrInvalid)
	}
	if s.Mode == Hand && r.Trigger == nil {
		return fmt.Errorf("%w: hand mode needs a trigger", ErrInvalid)
	}
	retries := r.Retries
	if retries <= 0 {
		retries = 3
		if s.Mode != Turntable {
			retries = 20
		}
	}
	s.State, s.Reason = Running, ""
	if err := r.Store.Begin(s); err != nil {
		return r.stop(s, fmt.Errorf("cannot write the session: %w", err))
	}
	pause := func(err error) error {
		reason := err.Error()
		if ferr := r.Store.Finish(s, Paused, reason); ferr != nil {
			err = errors.Join(err, ferr)
		}
		r.notify(s, Event{Kind: "paused", Reason: reason})
		return fmt.Errorf("%w: %w", ErrPaused, err)
	}
	if s.Mode == Turntable {
		if err := r.Rig.Ready(ctx); err != nil {
			if ctx.Err() != nil {
				return r.stop(s, ctx.Err())
			}
			return pause(fmt.Errorf("rig %s: %w", r.Rig.Name(), err))
		}
	}
	first := true
	for {
		v := s.NextView()
		if v < 0 {
			break
		}
		view := s.Views[v]
		rejected := 0
		for {
			if ctx.Err() != nil {
				return r.stop(s, ctx.Err())
			}
			if err := r.prepare(ctx, s, v, view, first); err != nil {
				if ctx.Err() != nil {
					return r.stop(s, ctx.Err())
				}
				return pause(err)
			}
			first = false
			data, err := r.Camera.Grab(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return r.stop(s, ctx.Err())
				}
				if !errors.Is(err, ErrCameraLost) {
					err = fmt.Errorf("%w: %w", ErrCameraLost, err)
				}
				return pause(err)
			}
			m, reason := r.check(s, data)
			if reason == "" {
				f, err := r.Store.AddFrame(s, v, data, m)
				if err != nil {
					return r.stop(s, fmt.Errorf("cannot write frame %d: %w", len(s.Frames)+1, err))
				}
				r.notify(s, Event{Kind: "frame", View: v, Angle: view.Angle, File: f.File})
				if s.taken(v) >= max(1, s.PerView) {
					break
				}
				continue
			}
			s.Rejected = append(s.Rejected, Rejection{View: v, Angle: view.Angle, Reason: reason, At: r.Store.now()})
			r.notify(s, Event{Kind: "rejected", View: v, Angle: view.Angle, Reason: reason})
			if rejected++; rejected >= retries {
				return pause(fmt.Errorf("%w: view %d (%g°) failed %d times, last: %s", ErrRejected, v+1, view.Angle, rejected, reason))
			}
		}
	}
	if s.Target.Part != "" && r.Sink != nil {
		var imgs [][]byte
		for _, f := range s.Frames {
			b, err := os.ReadFile(filepath.Join(r.Store.Root, filepath.FromSlash(f.File)))
			if err != nil {
				return r.stop(s, fmt.Errorf("read frame for the catalogue: %w", err))
			}
			imgs = append(imgs, b)
		}
		if err := r.Sink.AddPhotos(ctx, s.Target.Part, imgs, s.By, "capture:"+s.ID); err != nil {
			return pause(fmt.Errorf("add the photos to catalogue part %s: %w", s.Target.Part, err))
		}
	}
	if err := r.Store.Finish(s, Done, ""); err != nil {
		return r.stop(s, err)
	}
	r.notify(s, Event{Kind: "done"})
	return nil
}

// prepare brings the part into view v: turns the rig, asks the person, or
// waits the interval.
func (r *Runner) prepare(ctx context.Context, s *Session, v int, view View, first bool) error {
	switch s.Mode {
	case Turntable:
		r.notify(s, Event{Kind: "moving", View: v, Angle: view.Angle})
		if err := r.Rig.MoveTo(ctx, view.Angle); err != nil {
			return fmt.Errorf("rig %s: move to %g°: %w", r.Rig.Name(), view.Angle, err)
		}
		if err := r.Rig.Settle(ctx); err != nil {
			return fmt.Errorf("rig %s: settle at %g°: %w", r.Rig.Name(), view.Angle, err)
		}
	case Hand:
		r.notify(s, Event{Kind: "ask", View: v, Angle: view.Angle, Ask: view.Ask})
		return r.Trigger(ctx, s, v)
	case Timed:
		if first {
			return nil
		}
		t := time.NewTimer(s.Interval)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (r *Runner) check(s *Session, data []byte) (Measure, string) {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return Measure{}, fmt.Sprintf("unreadable frame from the camera: %v", err)
	}
	hashes := make([]Signature, 0, len(s.Frames))
	for _, f := range s.Frames {
		if h, err := ParseSignature(f.Signature); err == nil {
			hashes = append(hashes, h)
		}
	}
	return r.Gates.Check(img, hashes)
}

// stop ends the session for good, keeping what it has.
func (r *Runner) stop(s *Session, cause error) error {
	what := fmt.Sprintf("stopped after %d of %d frames (all kept)", len(s.Frames), s.TargetCount())
	reason := what + ": " + cause.Error()
	if errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded) {
		what = fmt.Sprintf("interrupted after %d of %d frames (all kept)", len(s.Frames), s.TargetCount())
		reason = what
	}
	err := fmt.Errorf("%w: %s: %w", ErrStopped, what, cause)
	if ferr := r.Store.Finish(s, Incomplete, reason); ferr != nil {
		err = fmt.Errorf("%w; the manifest could not be updated either (it lists the frames kept before): %w", err, ferr)
	}
	r.notify(s, Event{Kind: "incomplete", Reason: reason})
	return err
}
