package station

import (
	"context"
	"errors"
	"fmt"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Model swaps: a new model is loaded, checked and warmed before it serves,
// and the old one is closed after its last inference.

// ActivateModel loads, validates and warms name/version (one inference),
// then swaps it in atomically. On error the old model keeps serving and the
// error shows in Status().ModelError; the loader's error is returned.
func (s *Station) ActivateModel(ctx context.Context, name, version string) error {
	if s.loader == nil {
		return errors.New("station: no model loader")
	}
	m, err := s.loader(ctx, name, version)
	if err == nil {
		_, err = m.Classifier.Classify(ctx, make([]float32, m.Card.Input.TensorLen()))
		if err != nil {
			m.Classifier.Close()
			err = fmt.Errorf("warm-up: %w", err)
		}
	}
	if err != nil {
		err = fmt.Errorf("model %s/%s: %w", name, version, err)
		s.setModelErr(err)
		s.log.Error("model swap refused; the old model keeps serving", "model", name+"/"+version, "err", err)
		return err
	}
	// The write lock waits for an inference still running on the old model,
	// so it can be closed safely.
	s.inferMu.Lock()
	old := s.model.Swap(m)
	s.inferMu.Unlock()
	if old != nil && old.Classifier != nil && old.Classifier != m.Classifier {
		old.Classifier.Close()
	}
	s.mu.Lock()
	s.modelErr = ""
	s.mu.Unlock()
	s.log.Info("model active", "name", m.Card.Name, "version", m.Card.Version, "sha256", short(m.Card.ONNXSHA256))
	st := s.Status()
	s.publish(inspector.Event{Kind: inspector.EventStatus, Time: s.cfg.Now(), Status: &st})
	return nil
}

func (s *Station) clearModelErr() {
	s.mu.Lock()
	s.modelErr = ""
	s.mu.Unlock()
}

func short(h string) string { return h[:min(12, len(h))] }

// setModelErr records a model error for Status and tells subscribers when it changed.
func (s *Station) setModelErr(err error) {
	s.mu.Lock()
	changed := s.modelErr != err.Error()
	s.modelErr = err.Error()
	s.mu.Unlock()
	if changed {
		st := s.Status()
		s.publish(inspector.Event{Kind: inspector.EventStatus, Time: s.cfg.Now(), Status: &st})
	}
}
