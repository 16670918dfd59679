package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/models"
)

// tinyPNG encodes a 40×32 image whose bright half tells the class apart:
// class 0 bright left, class 1 bright right, class 2 bright top; noise from
// rng keeps the images distinct.
func tinyPNG(t *testing.T, class int, rng *rand.Rand) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 32))
	for y := 0; y < 32; y++ {
		for x := 0; x < 40; x++ {
			bright := (class == 0 && x < 20) || (class == 1 && x >= 20) || (class >= 2 && y < 16)
			v := 40 + rng.IntN(30)
			if bright {
				v += 150
			}
			img.Set(x, y, color.RGBA{uint8(v), uint8(v), uint8(v), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tinyDataset writes DIR/<class>/NNN.png with counts[class] images per class;
// classes are numbered in sorted name order for tinyPNG's pattern.
func tinyDataset(t *testing.T, classes []string, counts []int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	for i, c := range classes {
		if err := os.MkdirAll(filepath.Join(dir, c), 0o755); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < counts[i]; k++ {
			if err := os.WriteFile(filepath.Join(dir, c, string(rune('a'+k/26))+string(rune('a'+k%26))+".png"), tinyPNG(t, i, rng), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// tinyOptions trains for seconds: 16 px input, two epochs of two batches.
func tinyOptions(t *testing.T, data string) Options {
	return Options{
		Data: data, Name: "tiny", Registry: t.TempDir(), Epochs: 2, Batch: 4, StepsPerEpoch: 2,
		InputSize: 16, Seed: 1, Patience: 2, ORTLib: ortLib(t),
	}
}

// assertNoVersion fails when the registry holds any version or leftover
// temporary folder of the model.
func assertNoVersion(t *testing.T, root, name string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, name))
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) > 0 {
		t.Errorf("registry %s/%s holds %v after a failed training; want nothing", root, name, names)
	}
}

func TestTrainRefusesTooFewClasses(t *testing.T) {
	cases := []struct {
		name    string
		classes []string
		counts  []int
	}{
		{"one class", []string{"ok"}, []int{8}},
		{"second class empty", []string{"ok", "scratch"}, []int{8, 0}},
		{"no classes", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := tinyDataset(t, tc.classes, tc.counts)
			reg := t.TempDir()
			_, err := Train(context.Background(), Options{Data: data, Name: "m", Registry: reg})
			if err == nil {
				t.Fatal("training on a dataset without two usable classes succeeded")
			}
			if !errors.Is(err, datasets.ErrTooFewClasses) && !errors.Is(err, datasets.ErrNotDataset) {
				t.Errorf("error %v does not say the dataset has too few classes", err)
			}
			assertNoVersion(t, reg, "m")
		})
	}
}

// cancelOn cancels when the training output first mentions its marker, so
// the cancel arrives in the middle of training.
type cancelOn struct {
	marker string
	cancel context.CancelFunc
	mu     sync.Mutex
	buf    strings.Builder
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.marker) {
		c.cancel()
	}
	return len(p), nil
}

func TestTrainCancelLeavesNothing(t *testing.T) {
	data := tinyDataset(t, []string{"left", "right"}, []int{8, 8})
	opt := tinyOptions(t, data)
	opt.Epochs = 50
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opt.Out = &cancelOn{marker: "epoch  2/", cancel: cancel}
	_, err := Train(ctx, opt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled training returned %v, want context.Canceled", err)
	}
	assertNoVersion(t, opt.Registry, opt.Name)
}

func TestTrainUnknownBackend(t *testing.T) {
	data := tinyDataset(t, []string{"left", "right"}, []int{8, 8})
	opt := tinyOptions(t, data)
	opt.Backend = "xla"
	if _, err := Train(context.Background(), opt); err == nil || !strings.Contains(err.Error(), "unknown backend") {
		t.Errorf("unknown backend: %v", err)
	}
	assertNoVersion(t, opt.Registry, opt.Name)
}

// TestTrainRefusesBadThresholdRule: a threshold rule that cannot choose
// thresholds stops the training before anything is learned or published.
func TestTrainRefusesBadThresholdRule(t *testing.T) {
	data := tinyDataset(t, []string{"left", "right"}, []int{8, 8})
	opt := tinyOptions(t, data)
	opt.Thresholds = models.ThresholdPolicy{Rule: models.RuleCost, WrongCost: 0.5}
	if _, err := Train(context.Background(), opt); err == nil || !strings.Contains(err.Error(), "at least one look") {
		t.Errorf("cost 0.5: %v", err)
	}
	assertNoVersion(t, opt.Registry, opt.Name)
}

// repoRoot is the checkout this package lives in.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func ortLib(t *testing.T) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), ".deps", "onnxruntime", "libonnxruntime.so.1")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("ONNX Runtime library missing at %s: run make setup", p)
	}
	return p
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrainStemStride trains with the space-to-depth stem end to end: the
// export holds it (ONNX Runtime agrees with GoMLX) and the card says so.
func TestTrainStemStride(t *testing.T) {
	data := tinyDataset(t, []string{"left", "right"}, []int{8, 8})
	opt := tinyOptions(t, data)
	opt.InputSize, opt.StemStride = 32, 2
	res, err := Train(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	c := res.Card
	if c.Training.StemStride != 2 || !strings.HasPrefix(c.Architecture, "space-to-depth 2×2 → ") {
		t.Errorf("card stem stride %d, architecture %q; want 2 and the space-to-depth stem", c.Training.StemStride, c.Architecture)
	}
	if v := c.Verification; v.MaxAbsDiff > v.Tolerance {
		t.Errorf("export disagrees with GoMLX: max diff %g > %g", v.MaxAbsDiff, v.Tolerance)
	}
	if c.Input.Width != 32 {
		t.Errorf("input width %d, want 32 (the stem works inside the net)", c.Input.Width)
	}
	if c.Input.Interpolation != inspector.InterpLinear {
		t.Errorf("card interpolation %q, want the default %q", c.Input.Interpolation, inspector.InterpLinear)
	}
	cubic := tinyOptions(t, data)
	cubic.Interpolation = "cubic"
	if _, err := Train(context.Background(), cubic); !errors.Is(err, inspector.ErrBadSpec) {
		t.Errorf("interpolation cubic: %v, want ErrBadSpec", err)
	}
	assertNoVersion(t, cubic.Registry, cubic.Name)

	for _, tc := range []struct {
		size, stride int
		want         string
	}{
		{16, 3, "not a multiple of the stem stride"},
		{16, 2, "too small for 4 pooling blocks"},
	} {
		bad := tinyOptions(t, data)
		bad.InputSize, bad.StemStride = tc.size, tc.stride
		if _, err := Train(context.Background(), bad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("input %d with stem stride %d: %v, want %q", tc.size, tc.stride, err, tc.want)
		}
		assertNoVersion(t, bad.Registry, bad.Name)
	}
}

func TestTrainRecordsDocAndQuality(t *testing.T) {
	data := tinyDataset(t, []string{"left", "right"}, []int{10, 10})
	// The dataset records the light of every image beside them.
	conds := map[string]map[string]string{}
	for _, c := range []string{"left", "right"} {
		files, _ := filepath.Glob(filepath.Join(data, c, "*.png"))
		for i, f := range files {
			conds[c+"/"+filepath.Base(f)] = map[string]string{"light": []string{"dim", "bright"}[i%2]}
		}
	}
	b, _ := json.Marshal(conds)
	if err := os.WriteFile(filepath.Join(data, "conditions.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	opt := tinyOptions(t, data)
	opt.Doc = models.Doc{IntendedUse: "tiny test", RiskCategory: models.RiskMinimal, RiskReason: "a test"}
	opt.DocBy = "tester"
	res, err := Train(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := models.Registry{Root: opt.Registry}.Get(res.Card.Name, res.Card.Version)
	if err != nil {
		t.Fatal(err)
	}
	if c.IntendedUse != "tiny test" || len(c.DocHistory) != 1 || c.DocHistory[0].By != "tester" {
		t.Errorf("doc %+v, history %+v", c.Doc, c.DocHistory)
	}
	q := c.Quality
	if q == nil {
		t.Fatal("no quality checks on the card")
	}
	test := c.Dataset.SplitCounts["test"]["left"] + c.Dataset.SplitCounts["test"]["right"]
	train := c.Dataset.SplitCounts["train"]["left"] + c.Dataset.SplitCounts["train"]["right"]
	if q.Images != test || q.NearDuplicates.Test != test || q.NearDuplicates.Train != train || q.Imbalance.Counts["left"] != c.Dataset.SplitCounts["train"]["left"] {
		t.Errorf("checks saw %d test images (%d hashed), %d train, imbalance %v; the split has %d test, %d train",
			q.Images, q.NearDuplicates.Test, q.NearDuplicates.Train, q.Imbalance.Counts, test, train)
	}
	if len(q.Conditions) != 1 || q.Conditions[0] != "light" || len(q.Subgroups) == 0 {
		t.Errorf("conditions %v, subgroups %+v; want the light from conditions.json", q.Conditions, q.Subgroups)
	}
	if want := c.Metrics["test"].Accuracy; q.Accuracy != want {
		t.Errorf("checks' accuracy %.3f, the card's test accuracy %.3f", q.Accuracy, want)
	}

	bad := tinyOptions(t, data)
	bad.Doc = models.Doc{RiskCategory: "medium", RiskReason: "x"}
	if _, err := Train(context.Background(), bad); !errors.Is(err, models.ErrBadDoc) {
		t.Errorf("unknown risk category: %v, want ErrBadDoc", err)
	}
	assertNoVersion(t, bad.Registry, bad.Name)
}
