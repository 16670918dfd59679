package station

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/models"
)

// DefaultModel is the model served when the registry names no active one:
// the demo defect model that `make models` trains and ships.
const DefaultModel = "demo-defects"

// ErrNoModelFile is returned by a RegistryLoader when neither the requested
// model nor the default one is in the registry.
var ErrNoModelFile = errors.New("no model to serve")

// RegistryLoader returns a Loader that reads cards from reg, checks the model
// file against the card's sha256, and opens it with ONNX Runtime (onnx.Init
// must have been called). name "" means the registry's active model, and
// when none was activated, fallback (newest version). Errors wrap
// models.ErrNoModel, models.ErrTampered, inspector.ErrModelShape or
// ErrNoModelFile (with what to run to get one).
func RegistryLoader(reg models.Registry, fallback string, opt onnx.Options) Loader {
	return func(ctx context.Context, name, version string) (*Model, error) {
		var card *models.Card
		var err error
		switch {
		case name != "":
			card, err = reg.Get(name, version)
		default:
			card, err = reg.ActiveCard()
			if errors.Is(err, models.ErrNoModel) && fallback != "" {
				card, err = reg.Get(fallback, "")
				if errors.Is(err, models.ErrNoModel) || errors.Is(err, os.ErrNotExist) {
					return nil, fmt.Errorf("%w: no active model and no %s in %s (run `make models` to train it, or name one with --model): %v",
						ErrNoModelFile, filepath.Join(reg.Root, fallback), reg.Root, err)
				}
			}
		}
		if err != nil {
			return nil, err
		}
		if err := reg.Verify(card); err != nil {
			return nil, err
		}
		path := reg.ModelPath(card)
		sess, err := onnx.Open(path, card.Input, len(card.Labels), opt)
		if err != nil {
			return nil, err
		}
		return &Model{Card: card, Path: path, Classifier: sess}, nil
	}
}

// watchActive polls the registry's active.json (every interval) and
// activates the model it names when the file changes, so that
// `pruefplatz models activate` in another shell reaches the running station.
// last is the file's mtime when the station started.
func (s *Station) watchActive(ctx context.Context, last time.Time) {
	path := s.cfg.ActiveFile
	t := time.NewTicker(s.cfg.ActivePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(path)
		if err != nil || !st.ModTime().After(last) {
			continue
		}
		last = st.ModTime()
		a, err := s.cfg.ReadActive()
		if err != nil {
			s.setModelErr(fmt.Errorf("%s: %w", path, err))
			continue
		}
		if m := s.model.Load(); m != nil && m.Card.Name == a.Name && m.Card.Version == a.Version {
			continue
		}
		s.log.Info("active.json changed", "model", a.Name+"/"+a.Version)
		_ = s.ActivateModel(ctx, a.Name, a.Version) // logged and in status
	}
}
