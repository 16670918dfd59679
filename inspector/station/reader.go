package station

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
)

// The reader: it keeps only the newest frame, and reopens a lost source
// with a growing wait.

// readLoop keeps the newest frame in s.latest; it never queues frames, so a
// slow worker sees the scene as it is now, not as it was.
func (s *Station) readLoop(ctx context.Context) {
	frame := gocv.NewMat()
	defer frame.Close()
	var src FrameSource
	defer func() {
		if src != nil {
			src.Close()
		}
	}()
	backoff := s.cfg.Backoff
	var count int
	windowStart := time.Now()
	for ctx.Err() == nil {
		if src == nil {
			// Only a source opened without error is kept: an opener that
			// returns a typed nil pointer with its error would otherwise
			// leave a non-nil interface that panics on Read.
			opened, err := s.openSource()
			if err != nil {
				s.setSource(inspector.SourceDisconnected, err)
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, s.cfg.MaxBackoff)
				continue
			}
			src = opened
			s.setSource(inspector.SourceLive, nil)
		}
		err := src.Read(&frame)
		switch {
		case errors.Is(err, inspector.ErrSourceEnded):
			s.setSource(inspector.SourceEnded, nil)
			return
		case err != nil:
			s.setSource(inspector.SourceDisconnected, err)
			src.Close()
			src = nil
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, s.cfg.MaxBackoff)
			continue
		}
		backoff = s.cfg.Backoff
		s.mu.Lock()
		frame.CopyTo(&s.latest)
		s.seq++
		s.frames++
		if s.state != inspector.SourceLive {
			s.state, s.sourceErr = inspector.SourceLive, ""
		}
		s.mu.Unlock()
		select {
		case s.newFrame <- struct{}{}:
		default:
			s.mu.Lock()
			s.dropped++ // the worker had not taken the previous frame
			s.mu.Unlock()
		}
		count++
		if el := time.Since(windowStart); el >= time.Second {
			s.mu.Lock()
			s.fps = float64(count) / el.Seconds()
			s.mu.Unlock()
			count, windowStart = 0, time.Now()
		}
	}
}

// openSource calls the opener and turns a panic in it (a cgo boundary) into
// an error, so a broken driver costs a reconnect, not the station.
func (s *Station) openSource() (src FrameSource, err error) {
	defer func() {
		if r := recover(); r != nil {
			src, err = nil, fmt.Errorf("opening the source panicked: %v", r)
		}
	}()
	src, err = s.open()
	if err != nil {
		return nil, err
	}
	if src == nil {
		return nil, errors.New("the source opener returned no source")
	}
	return src, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (s *Station) setSource(st inspector.SourceState, err error) {
	s.mu.Lock()
	changed := s.state != st
	s.state = st
	if st != inspector.SourceLive {
		s.fps = 0
	}
	s.sourceErr = ""
	if err != nil {
		s.sourceErr = err.Error()
	}
	s.mu.Unlock()
	switch {
	case err != nil && changed:
		s.log.Warn("source", "name", s.name, "state", st, "err", err)
	case err != nil:
		// A dead camera is retried for hours: say so now and then, not every try.
		s.limited("source", "source still failing", "name", s.name, "state", st, "err", err)
	case changed:
		s.log.Info("source", "name", s.name, "state", st)
	}
	if changed {
		st := s.Status()
		s.publish(inspector.Event{Kind: inspector.EventStatus, Time: s.cfg.Now(), Status: &st})
	}
}
