package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/station"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/anomaly"
)

// defaultModel is the model served when the registry names no active one:
// the demo defect model that `make models` trains and ships.
const defaultModel = "demo-defects"

// errNoModelFile is returned by a registryLoader when neither the requested
// model nor the default one is in the registry.
var errNoModelFile = errors.New("no model to serve")

// registryLoader returns a station.Loader that reads cards from reg, checks the model
// file against the card's sha256, and opens it with ONNX Runtime (onnx.Init
// must have been called). name "" means the registry's active model, and
// when none was activated, fallback (newest version). Errors wrap
// models.ErrNoModel, models.ErrTampered, inspector.ErrModelShape or
// errNoModelFile (with what to run to get one).
func registryLoader(reg models.Registry, fallback string, opt onnx.Options) station.Loader {
	return func(ctx context.Context, name, version string) (*station.Model, error) {
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
						errNoModelFile, filepath.Join(reg.Root, fallback), reg.Root, err)
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
		sess, err := openModel(card, path, opt)
		if err != nil {
			return nil, err
		}
		return &station.Model{Card: card, Path: path, Classifier: sess}, nil
	}
}

// openModel opens a verified model of either kind: an ONNX classifier, or
// an anomaly model (backbone plus memory bank, searched on ONNX Runtime),
// which the station recognises as an inspector.Locator.
func openModel(card *models.Card, path string, opt onnx.Options) (inspector.Classifier, error) {
	if card.Kind == models.KindAnomaly {
		return anomaly.Open(card, filepath.Dir(path), opt, nearestSearch(opt.Threads))
	}
	return onnx.Open(path, card.Input, len(card.Labels), opt)
}
