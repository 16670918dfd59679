package anomaly

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	ia "github.com/pruefplatz/pruefplatz/inspector/anomaly"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/models"
)

// Open opens the anomaly model of card c whose files lie in dir (checked
// against the card by the caller, as Registry.Verify does): the backbone
// in model.onnx on ONNX Runtime (onnx.Init must have been called) and the
// bank. search makes the nearest-neighbour search (nil: pure Go). It
// returns an error wrapping models.ErrBadCard for a card of another kind,
// ia.ErrBank for a bad bank, or the runtime's error.
func Open(c *models.Card, dir string, opt onnx.Options, search func(*ia.Bank) (ia.Searcher, error)) (*ia.Model, error) {
	if c.Kind != models.KindAnomaly || c.Anomaly == nil {
		return nil, fmt.Errorf("%w: %s/%s is not an anomaly model", models.ErrBadCard, c.Name, c.Version)
	}
	data, err := os.ReadFile(filepath.Join(dir, c.Anomaly.BankFile))
	if err != nil {
		return nil, err
	}
	bank, err := ia.DecodeBank(data)
	if err != nil {
		return nil, fmt.Errorf("%s/%s: %w", c.Name, c.Version, err)
	}
	b := embed.Backbone{File: filepath.Join(dir, models.ModelFile), SHA256: c.ONNXSHA256}
	if c.Backbone != nil {
		b.Name, b.License, b.Source = c.Backbone.Name, c.Backbone.License, c.Backbone.Source
	}
	r, err := onnx.OpenBackbone(b, opt)
	if err != nil {
		return nil, err
	}
	m, err := ia.New(r, bank, Params(c))
	if err != nil {
		r.Close()
		return nil, err
	}
	if search != nil {
		s, err := search(bank)
		if err != nil {
			r.Close()
			return nil, err
		}
		m.Search = s
	}
	return m, nil
}

// Params are the scoring settings a card records.
func Params(c *models.Card) ia.Params {
	a := c.Anomaly
	return ia.Params{Grid: a.Grid, Sigma: a.Sigma, ScoreOK: a.ScoreOK, ScoreNOK: a.ScoreNOK}
}

var _ io.Closer = (*ia.Model)(nil)
