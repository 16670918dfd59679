package station

import (
	"context"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// regionClassifier calls a part NOK (dent; fakeCard's label 3 is ok) when
// the input is bright inside one square of the 32×32 input, as a model
// that found a defect there would.
type regionClassifier struct{}

func (regionClassifier) Classify(_ context.Context, in []float32) ([]float32, error) {
	var s float32
	for y := 8; y < 16; y++ {
		for x := 8; x < 16; x++ {
			s += in[y*32+x]
		}
	}
	out := make([]float32, 5)
	out[3], out[1] = 5, 10*s/64 // ok, dent
	return out, nil
}

func (regionClassifier) Close() error { return nil }

// A classifier's NOK verdict carries an occlusion map whose hottest region
// is where the classifier looks; an OK verdict carries none.
func TestClassifierVerdictIsExplained(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    inspector.Classifier
		want bool
	}{{"nok", regionClassifier{}, true}, {"ok", &constClassifier{n: 5, idx: 3}, false}} {
		t.Run(tc.name, func(t *testing.T) {
			st := New(Config{Logger: quietLog()}, "synth", func() (FrameSource, error) { return &synthSource{}, nil },
				&Model{Card: fakeCard("fake", "v1"), Classifier: tc.c}, nil, &memStore{})
			defer st.Close()
			// jpegOf draws a white square over input pixels 8…16 of 32.
			v, err := st.ClassifyImage(context.Background(), jpegOf(t, 64, 64), false)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want {
				if v.Heatmap != nil {
					t.Errorf("%s verdict has a map", v.Outcome)
				}
				return
			}
			hm := v.Heatmap
			if v.Outcome != inspector.OutcomeNOK || hm == nil || hm.Method != inspector.HeatmapOcclusion {
				t.Fatalf("verdict %s with map %+v", v.Outcome, hm)
			}
			// Cells of 4 px: the square spans cells 2 and 3.
			if h := hm.Hot; h.X < 2 || h.Y < 2 || h.X+h.W > 4 || h.Y+h.H > 4 || h.W == 0 {
				t.Errorf("hottest region %+v, want inside cells 2…3", h)
			}
		})
	}
}
