//go:build onnx

package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

func backboneOptions(t *testing.T, data string) Options {
	t.Helper()
	b, err := backbones.Get(filepath.Join(repoRoot(t), "models", backbones.Dir), backbones.MobileNetV2)
	if err != nil {
		t.Fatal(err)
	}
	return Options{Data: data, Name: "bb", Registry: t.TempDir(), Epochs: 4, Patience: 4, Batch: 8, StepsPerEpoch: 3,
		Seed: 1, ORTLib: ortLib(t), Backbone: &b, Views: 1, Threads: 2, Hidden: 8, Patch: 4, PatchAlways: true}
}

// TestTrainBackboneExportMatches trains a head on the frozen backbone end to
// end: the published model is one ONNX file (one input, one output, the
// ImageNet classifier pruned away; the pooled feature maps and the patch
// filters computed inside it) whose ONNX Runtime answers equal the trained
// head's; the card names the backbone and warns about the tiny test
// split; a second run on the same cache embeds nothing.
func TestTrainBackboneExportMatches(t *testing.T) {
	data := tinyDataset(t, []string{"left", "right"}, []int{12, 12})
	opt := backboneOptions(t, data)
	// Pooled blocks of both kinds beside the embedding, so the graft's
	// GlobalMaxPool and GlobalAveragePool paths are both checked.
	opt.Pool = []string{"embedding", "s16max", "s8avg"}
	cache := embed.MemCache{}
	opt.Cache = cache
	var out bytes.Buffer
	opt.Out = &out
	res, err := Train(context.Background(), opt)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	c := res.Card
	if c.Backbone == nil || c.Backbone.Name != backbones.MobileNetV2 || c.Backbone.SHA256 != opt.Backbone.SHA256 || c.Backbone.License != "Apache-2.0" {
		t.Errorf("card backbone %+v", c.Backbone)
	}
	if c.Verification == nil || len(c.Verification.References) == 0 || c.Verification.MaxAbsDiff > c.Verification.Tolerance {
		t.Fatalf("verification %+v", c.Verification)
	}
	// The default ensemble, on pooled blocks with patch filters, is what
	// was exported and verified above.
	if c.Training.Heads != 3 || !strings.Contains(c.Architecture, "3 heads") {
		t.Errorf("card: %d heads, architecture %q; want the default 3", c.Training.Heads, c.Architecture)
	}
	for _, part := range []string{"embedding 1280 + s16max 96 + s8avg 32", "learned patch filters (feat_s16 → 1×1 conv 4"} {
		if !strings.Contains(c.Architecture, part) {
			t.Errorf("architecture %q does not name %q", c.Architecture, part)
		}
	}
	if c.ThresholdPolicy == nil || *c.ThresholdPolicy != models.DefaultThresholdPolicy {
		t.Errorf("card threshold policy %+v, want the default", c.ThresholdPolicy)
	}
	// The reference images, run again through the published file: the
	// exported answers are the trained ones.
	path := filepath.Join(res.Dir, models.ModelFile)
	info, err := onnx.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := info.CheckShapes(c.Input, len(c.Labels)); err != nil {
		t.Fatalf("published model: %v", err)
	}
	sess, err := onnx.Open(path, c.Input, len(c.Labels), onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	for _, ref := range c.Verification.References {
		matches, _ := filepath.Glob(filepath.Join(data, "*", ref.File))
		file := ""
		for _, m := range matches {
			if sum, _ := models.FileSHA256(m); sum == ref.FileSHA256 {
				file = m
			}
		}
		if file == "" {
			t.Fatalf("reference %s (sha256 %s) not found", ref.File, ref.FileSHA256)
		}
		x, err := opencv.PreprocessFile(file, c.Input)
		if err != nil {
			t.Fatal(err)
		}
		logits, err := sess.Classify(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		for j, p := range c.Probabilities(logits) {
			if d := float64(p - ref.Trained[j]); d > 1e-4 || d < -1e-4 {
				t.Errorf("%s class %d: exported %.6f, trained %.6f", ref.File, j, p, ref.Trained[j])
			}
		}
	}
	st, _ := os.Stat(path)
	bst, _ := os.Stat(opt.Backbone.File)
	if st.Size() >= bst.Size() {
		t.Errorf("model %d bytes, backbone %d: the ImageNet classifier was not pruned", st.Size(), bst.Size())
	}
	if len(c.Warnings) != 2 || !strings.Contains(c.Warnings[0], "test split too small") {
		t.Errorf("card warnings %q, want one small-test-split warning per class", c.Warnings)
	}
	if c.Training.EmbedComputed == 0 || c.Training.AugmentedViews != 1 {
		t.Errorf("first run: %d computed, %d views", c.Training.EmbedComputed, c.Training.AugmentedViews)
	}

	// Second run, same data and cache: nothing embedded again. It lets the
	// validation split choose whether the patch filters stay (the default):
	// the card says which and why, and the export matches whichever was kept.
	opt.Version, opt.PatchAlways = "v2", false
	out.Reset()
	res2, err := Train(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	c2 := res2.Card
	if tr := c2.Training; tr.EmbedComputed != 0 || tr.EmbedCacheHits != c.Training.EmbedComputed {
		t.Errorf("second run computed %d, hit %d; want 0 and %d", tr.EmbedComputed, tr.EmbedCacheHits, c.Training.EmbedComputed)
	}
	if !strings.Contains(c2.Architecture, "patch filters chosen on the validation split") || !strings.Contains(out.String(), "patch filters chosen") {
		t.Errorf("the choice is not recorded: architecture %q", c2.Architecture)
	}
	if kept := strings.Contains(c2.Architecture, "kept: with)"); kept != strings.Contains(c2.Architecture, "learned patch filters") {
		t.Errorf("architecture %q: the kept kind and the described head differ", c2.Architecture)
	}
	if c2.Verification == nil || c2.Verification.MaxAbsDiff > c2.Verification.Tolerance {
		t.Fatalf("second run's verification %+v", c2.Verification)
	}
}

// TestTrainRefusesLabelChange: a new version of a name whose labels differ
// from the previous version's is refused before any work, unless allowed.
func TestTrainRefusesLabelChange(t *testing.T) {
	opt := backboneOptions(t, tinyDataset(t, []string{"left", "right"}, []int{12, 12}))
	opt.Epochs = 1
	if _, err := Train(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	opt.Data = tinyDataset(t, []string{"left", "right", "top"}, []int{12, 12, 12})
	_, err := Train(context.Background(), opt)
	if !errors.Is(err, models.ErrLabelChange) {
		t.Fatalf("label change: %v, want ErrLabelChange", err)
	}
	if _, err := os.Stat(filepath.Join(opt.Registry, "bb", "v2")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused version was published: %v", err)
	}
	opt.AllowLabelChange = true
	res, err := Train(context.Background(), opt)
	if err != nil || res.Card.Version != "v2" {
		t.Fatalf("allowed label change: %v", err)
	}
}

// TestTrainMissingBackboneSaysWhatToDo: with the backbone the default, a run
// from a folder without models/backbones must say how to go on and publish
// nothing.
func TestTrainMissingBackboneSaysWhatToDo(t *testing.T) {
	opt := backboneOptions(t, tinyDataset(t, []string{"left", "right"}, []int{12, 12}))
	b := *opt.Backbone
	b.File = filepath.Join(t.TempDir(), "models", "backbones", "mobilenet-v2", "missing.onnx")
	opt.Backbone = &b
	_, err := Train(context.Background(), opt)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "--backbones") || !strings.Contains(err.Error(), "--backbone none") {
		t.Fatalf("missing backbone: %v; want a not-exist error naming --backbones and --backbone none", err)
	}
	if entries, _ := os.ReadDir(opt.Registry); len(entries) != 0 {
		t.Errorf("the failed run left %d entries in the registry", len(entries))
	}
}
