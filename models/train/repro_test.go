//go:build onnx && verifymodels

// This file is the reproducibility check behind `make verify-models`: it
// retrains both shipped models (minutes), so `make test` leaves it out.

package train

import (
	"cmp"
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/pruefplatz/pruefplatz/augment"
	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/models"
)

// TestDefaultModelReproduces retrains each shipped default model from its
// card's parameters on freshly generated demo data and checks that the test
// accuracy lands within one point of the card's. It is the proof that the
// committed models come from the committed code and data.
func TestDefaultModelReproduces(t *testing.T) {
	data := t.TempDir()
	if err := demo.Generate(context.Background(), demo.Options{Seed: 1, Out: data}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"demo-parts", "demo-defects"} {
		t.Run(name, func(t *testing.T) { reproduce(t, data, name) })
	}
}

func reproduce(t *testing.T, data, name string) {
	card, err := models.LoadCard(filepath.Join(repoRoot(t), "models", name, "v1", models.CardFile))
	if err != nil {
		t.Fatalf("the default model %s is not in the repository: %v", name, err)
	}
	tr := card.Training
	pipeline, err := augment.ParsePipeline(tr.Augmentation)
	if err != nil {
		t.Fatalf("%s: the card's augmentation: %v", name, err)
	}
	res, err := Train(context.Background(), Options{
		Data: filepath.Join(data, name), Name: name, Registry: t.TempDir(),
		Epochs: tr.Epochs, Batch: tr.Batch, InputSize: card.Input.Width, Channels: card.Input.Channels,
		Resize: card.Input.Resize, ROI: card.Input.ROI,
		// A card without the field was trained with INTER_AREA.
		Interpolation: cmp.Or(card.Input.Interpolation, inspector.InterpArea), Seed: tr.Seed, LR: tr.LearningRate, Patience: tr.Patience,
		StepsPerEpoch: tr.StepsPerEpoch, StemStride: tr.StemStride, OKLabels: card.OKLabels, ORTLib: ortLib(t), Pipeline: &pipeline,
		Thresholds: card.Policy(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Card.Dataset.ManifestHash != card.Dataset.ManifestHash {
		t.Logf("note: regenerated data differs from the card's (manifest %s vs %s): another OpenCV/libjpeg build",
			res.Card.Dataset.ManifestHash[:12], card.Dataset.ManifestHash[:12])
	}
	got, want := res.Card.Metrics["test"].Accuracy, card.Metrics["test"].Accuracy
	t.Logf("retrained %s: test accuracy %.1f%%, card %.1f%%, %.0fs", name, 100*got, 100*want, res.Card.Training.Seconds)
	if math.Abs(got-want) > 0.01 {
		t.Errorf("retrained test accuracy %.1f%% is not within 1 point of the card's %.1f%%", 100*got, 100*want)
	}
}
