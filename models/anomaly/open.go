package anomaly

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pruefplatz/pruefplatz/datasets"
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
	// The model's Go code (patch features, the parts) runs between the
	// backbone's runs on the same cores: ONNX Runtime's threads must not
	// spin on them.
	opt.NoSpin = true
	r, err := onnx.OpenBackbone(b, opt)
	if err != nil {
		return nil, err
	}
	m, err := ia.New(r, bank, Params(c))
	if err != nil {
		r.Close()
		return nil, err
	}
	if g := c.Anomaly.Global; g != nil {
		if m.Global, err = loadGlobal(g, dir, bank); err != nil {
			r.Close()
			return nil, fmt.Errorf("%s/%s: %w", c.Name, c.Version, err)
		}
	}
	if pi := c.Anomaly.Positional; pi != nil {
		if m.Pos, err = loadPositional(pi, dir, Params(c).Grid); err != nil {
			r.Close()
			return nil, fmt.Errorf("%s/%s: %w", c.Name, c.Version, err)
		}
	}
	if l := c.Anomaly.Letterbox; l != nil {
		if m.Lb, err = loadLetterbox(l, c, dir, r); err != nil {
			r.Close()
			return nil, fmt.Errorf("%s/%s: %w", c.Name, c.Version, err)
		}
		if search != nil {
			if m.Lb.Search, err = search(m.Lb.Bank); err != nil {
				r.Close()
				return nil, err
			}
		}
	}
	if search != nil {
		s, err := search(bank)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.Search = s
	}
	if ws, ok := m.Search.(ia.WordSearcher); ok && m.Global != nil {
		// a searcher may build its word search on first use: now, not on
		// the first frame
		if err := ws.NearestWords(context.Background(), make([]float32, ia.Dim), make([]float32, 1), make([]int32, 1), m.Global.Words.Len()); err != nil {
			m.Close()
			return nil, fmt.Errorf("%s/%s: word search: %w", c.Name, c.Version, err)
		}
	}
	return m, nil
}

// loadGlobal reads the global part g of a model whose bank is bank.
func loadGlobal(g *models.GlobalInfo, dir string, bank *ia.Bank) (*ia.Global, error) {
	if g.Words <= 0 || g.Words > bank.Len() {
		return nil, fmt.Errorf("%w: %d words from a bank of %d patches", ia.ErrBank, g.Words, bank.Len())
	}
	data, err := os.ReadFile(filepath.Join(dir, g.File))
	if err != nil {
		return nil, err
	}
	words, err := ia.NewBank(bank.Data[:g.Words*ia.Dim], ia.Dim)
	if err != nil {
		return nil, err
	}
	gl, err := openGlobal(words, data)
	if err != nil {
		return nil, err
	}
	gl.K = max(1, g.K)
	return gl, nil
}

// loadLetterbox reads the letterboxed part l of the model of card c, which
// runs the backbone r.
func loadLetterbox(l *models.LetterboxInfo, c *models.Card, dir string, r embed.Runner) (*ia.Letterboxed, error) {
	if l.Grid <= 0 || !ia.ValidNeighbourhood(l.Neighbourhood) || c.Input.Channels != len(c.Input.Mean) || c.Input.Channels != len(c.Input.Std) {
		return nil, fmt.Errorf("%w: letterboxed part: grid %d, neighbourhood %d, %d channels", ia.ErrBank, l.Grid, l.Neighbourhood, c.Input.Channels)
	}
	data, err := os.ReadFile(filepath.Join(dir, l.File))
	if err != nil {
		return nil, err
	}
	bank, err := ia.DecodeBank(data)
	if err != nil {
		return nil, err
	}
	return &ia.Letterboxed{Grid: l.Grid, Pad: PadValues(c.Input), TopK: l.TopK, MedianOffset: l.MedianOffset, Neighbourhood: l.Neighbourhood,
		Bank: bank, R: r}, nil
}

// loadPositional reads the positional part pi of a model with g tiles per side.
func loadPositional(pi *models.PositionalInfo, dir string, g int) (*ia.Positional, error) {
	data, err := os.ReadFile(filepath.Join(dir, pi.File))
	if err != nil {
		return nil, err
	}
	pb, err := ia.DecodePosBank(data, ia.Side*g, pi.K)
	if err != nil {
		return nil, err
	}
	if data, err = os.ReadFile(filepath.Join(dir, pi.PoseFile)); err != nil {
		return nil, err
	}
	ref, err := ia.DecodePoseRef(data)
	if err != nil {
		return nil, err
	}
	pb.Disc = pi.Disc
	return &ia.Positional{Ref: ref, Bank: pb, TopK: max(1, pi.TopK)}, nil
}

// Params are the scoring settings a card records.
func Params(c *models.Card) ia.Params {
	a := c.Anomaly
	p := ia.Params{Grid: a.Grid, Sigma: a.Sigma, ScoreOK: a.ScoreOK, ScoreNOK: a.ScoreNOK, TopK: a.TopK, MedianOffset: a.MedianOffset,
		Neighbourhood: a.Neighbourhood}
	if a.Global != nil {
		p.PatchRef, p.GlobalRef = a.Global.PatchRef, a.Global.GlobalRef
	}
	p.Norm = iaNorm(a.Norm)
	return p
}

var _ io.Closer = (*ia.Model)(nil)

// Evaluate scores every image of ds with the anomaly model of card c (files
// in dir, verified by the caller): the card's OK classes are the good
// images, every other class a defect class. masks is an optional folder
// MASKS/<class>/<name>.png for the heatmap check. It returns an error
// wrapping ErrNoOK when ds has no image of the card's OK classes.
func Evaluate(ctx context.Context, c *models.Card, dir string, ds *datasets.Dataset, masks string, opt onnx.Options,
	search func(*ia.Bank) (ia.Searcher, error), out io.Writer) (*EvalResult, error) {
	m, err := Open(c, dir, opt, search)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	good, bad := splitOK(ds.Samples, c.OKLabels)
	if len(good) == 0 {
		return nil, fmt.Errorf("%w: %s has no images of the model's OK classes %v (classes: %v)", ErrNoOK, ds.Root, c.OKLabels, ds.Classes)
	}
	ex, err := newExtractor(m.Runner(), c.Input, c.Anomaly.Grid, c.Anomaly.Neighbourhood)
	if err != nil {
		return nil, err
	}
	defer ex.Close()
	if out == nil {
		out = io.Discard
	}
	ev := &evaluator{ex: ex, m: m}
	return ev.evaluate(ctx, good, bad, c.OKLabels, masks, out)
}

// Problems lists the images an evaluation skipped, with why.
func (r *EvalResult) Problems() []string { return r.problems }
