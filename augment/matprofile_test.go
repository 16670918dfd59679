//go:build matprofile

package augment

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"
)

// TestApplyFreesMats runs every transform (including perspective) many times
// and checks that no Mat outlives the calls.
func TestApplyFreesMats(t *testing.T) {
	before := gocv.MatProfile.Count()
	src := testImage(64, 48)
	dst := gocv.NewMat()
	p := DefaultPipeline()
	p.Steps = append(p.Steps, Step{Type: "perspective", P: 1, Strength: 0.1})
	for i := range p.Steps {
		p.Steps[i].P = 1
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 50 {
		if _, err := p.Apply(src, &dst, rng); err != nil {
			t.Fatal(err)
		}
	}
	src.Close()
	dst.Close()
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mat count %d before, %d after Apply", before, after)
	}
}

// TestRunFreesMats checks the whole command path, preview included.
func TestRunFreesMats(t *testing.T) {
	in := makeDataset(t)
	before := gocv.MatProfile.Count()
	tmp := t.TempDir()
	o := opts(in, filepath.Join(tmp, "out"), 1, 2)
	o.Preview = filepath.Join(tmp, "sheet.png")
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mat count %d before, %d after Run", before, after)
	}
}
