package anomaly

import (
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector"
	ia "github.com/pruefplatz/pruefplatz/inspector/anomaly"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/backbones"
	"gocv.io/x/gocv"
)

func writeJPEG(t *testing.T, path string, w, h int, c color.Gray) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = c.Y + uint8(i%7)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, img, nil); err != nil {
		t.Fatal(err)
	}
}

func versions(t *testing.T, reg string) []string {
	entries, _ := os.ReadDir(filepath.Join(reg, "m"))
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// Bad input fails with a clear error before anything is computed, and
// nothing reaches the registry.
func TestTrainBadInput(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 4; i++ {
		writeJPEG(t, filepath.Join(dir, "mixed", "ok", string(rune('a'+i))+".jpg"), 64+32*i, 64, color.Gray{100})
		writeJPEG(t, filepath.Join(dir, "mixed", "bad", string(rune('a'+i))+".jpg"), 64, 64, color.Gray{30})
	}
	if err := os.WriteFile(filepath.Join(dir, "mixed", "ok", "corrupt.jpg"), []byte("not a jpeg"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := filepath.Join(dir, "reg")
	for _, tc := range []struct {
		name string
		opt  Options
		want error
	}{
		{"no ok label named", Options{Data: filepath.Join(dir, "mixed")}, ErrNoOK},
		{"ok label without images", Options{Data: filepath.Join(dir, "mixed"), OKLabels: []string{"good"}}, ErrNoOK},
		{"mixed aspect ratios stretched", Options{Data: filepath.Join(dir, "mixed"), OKLabels: []string{"ok"}, Resize: inspector.ResizeStretch}, ErrMixedShapes},
		{"unknown threshold rule", Options{Data: filepath.Join(dir, "mixed"), OKLabels: []string{"ok"}, ThresholdRule: "median"}, ErrBadOption},
		{"false alarms of one half", Options{Data: filepath.Join(dir, "mixed"), OKLabels: []string{"ok"}, FalseAlarms: 0.5}, ErrBadOption},
		{"negative false alarms", Options{Data: filepath.Join(dir, "mixed"), OKLabels: []string{"ok"}, FalseAlarms: -0.01}, ErrBadOption},
		{"unknown neighbourhood", Options{Data: filepath.Join(dir, "mixed"), OKLabels: []string{"ok"}, Neighbourhood: 4}, ErrBadOption},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Name, tc.opt.Registry = "m", reg
			_, err := Train(context.Background(), tc.opt)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if v := versions(t, reg); len(v) != 0 {
				t.Errorf("registry has %v after a failure", v)
			}
		})
	}
}

func setupORT(t *testing.T) (reg string) {
	t.Helper()
	lib, _ := filepath.Abs("../../.deps/onnxruntime/libonnxruntime.so.1")
	if err := onnx.Init(lib); err != nil {
		t.Fatalf("ONNX Runtime: %v (run make setup)", err)
	}
	reg = filepath.Join(t.TempDir(), "reg")
	if err := os.MkdirAll(reg, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../backbones")
	if err := os.Symlink(abs, filepath.Join(reg, "backbones")); err != nil {
		t.Fatal(err)
	}
	return reg
}

// readManifest returns [path, split] of every file of a manifest.
func readManifest(t *testing.T, path string) [][2]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m datasets.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for _, f := range m.Files {
		out = append(out, [2]string{filepath.FromSlash(f.Path), f.Split})
	}
	return out
}

// paint copies a JPEG with black and white stripes, 48 px square, on its centre.
func paint(t *testing.T, from, to string) {
	t.Helper()
	img := gocv.IMRead(from, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatalf("cannot read %s", from)
	}
	cx, cy := img.Cols()/2, img.Rows()/2
	for x := cx - 24; x < cx+24; x += 12 {
		gocv.Rectangle(&img, image.Rect(x, cy-24, x+6, cy+24), color.RGBA{255, 255, 255, 0}, -1)
		gocv.Rectangle(&img, image.Rect(x+6, cy-24, x+12, cy+24), color.RGBA{0, 0, 0, 0}, -1)
	}
	if !gocv.IMWrite(to, img) {
		t.Fatalf("cannot write %s", to)
	}
}

// A trained model published, verified, opened again and run scores a
// training image as OK and a painted defect as NOK; a changed bank is
// refused; a failing write publishes nothing.
func TestTrainExportLoadRoundTrip(t *testing.T) {
	reg := setupORT(t)
	bb, _ := backbones.Get(filepath.Join(reg, backbones.Dir), backbones.MobileNetV2)
	data := filepath.Join(t.TempDir(), "data")
	if err := demo.WriteImages(data, 1, demo.SetDefects, []string{"ok", "crack"}, 8); err != nil {
		t.Fatal(err)
	}
	opt := Options{Data: data, Name: "m", Registry: reg, OKLabels: []string{"ok"}, Backbone: bb, Threads: 2, GlobalWords: ia.DefaultWords, TopK: 3,
		Positional: 8, ValFrac: 0.3, // two parts: standardised, which needs two held-out images
		FalseAlarms: 0.05}

	failing := opt
	failing.createFile = func(string) (*os.File, error) { return nil, errors.New("disk full") }
	if _, err := Train(context.Background(), failing); err == nil {
		t.Fatal("no error from a failing write")
	}
	if v := versions(t, reg); len(v) != 0 {
		t.Fatalf("registry has %v after a failed write", v)
	}

	res, err := Train(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	r := models.Registry{Root: reg}
	card, err := r.Get("m", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(card); err != nil {
		t.Fatal(err)
	}
	if card.Kind != models.KindAnomaly || card.FileSHA256[BankFile] == "" || card.Ref().SHA256 == card.ONNXSHA256 {
		t.Errorf("card: kind %q, bank sha %q, ref %s", card.Kind, card.FileSHA256[BankFile], card.Ref().SHA256)
	}
	if sb := card.ScoreBaseline; sb == nil || sb.Total() != int64(card.Anomaly.HeldOutOK) {
		t.Errorf("score baseline %+v, want one count per held-out OK image (%d)", sb, card.Anomaly.HeldOutOK)
	}
	// model.onnx is the shipped backbone pruned to the feature maps: its
	// own sha256 on the card, the source's under backbone.
	if !slices.Equal(card.Anomaly.BackboneOutputs, onnx.FeatureOutputs) || card.Backbone.SHA256 != bb.SHA256 || card.ONNXSHA256 == bb.SHA256 {
		t.Errorf("card: backbone outputs %v, backbone sha %s (shipped %s), model.onnx sha %s",
			card.Anomaly.BackboneOutputs, card.Backbone.SHA256, bb.SHA256, card.ONNXSHA256)
	}
	m, err := Open(card, res.Dir, onnx.Options{Threads: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Bank.Len() != card.Anomaly.BankSize {
		t.Errorf("loaded bank %d patches, card says %d", m.Bank.Len(), card.Anomaly.BankSize)
	}
	if r, ok := m.Runner().(*onnx.Backbone); !ok || !r.Pruned() {
		t.Errorf("runner %T is not the pruned backbone", m.Runner())
	}
	if g := card.Anomaly.Global; g == nil || card.FileSHA256[GlobalFile] == "" || m.Global == nil ||
		m.Global.Words.Len() != g.Words || m.P.PatchRef != g.PatchRef || m.P.GlobalRef != g.GlobalRef || m.Global.Ref.Len() == 0 {
		t.Fatalf("global part: card %+v, loaded %+v, params %+v", g, m.Global, m.P)
	}
	if pi, n := card.Anomaly.Positional, card.Anomaly.Norm; pi == nil || n == nil || m.Pos == nil || m.P.Norm == nil ||
		m.Pos.Bank.K != 8 || m.Pos.Bank.Side != ia.Side || card.FileSHA256[PosFile] == "" || card.FileSHA256[PoseFile] == "" ||
		n.PosSD <= 0 || n.GlobalSD <= 0 || *m.P.Norm != *iaNorm(n) || len(card.Anomaly.ThresholdZ) != 2 {
		t.Fatalf("positional part: card %+v, norm %+v, loaded %+v, params %+v", pi, n, m.Pos, m.P)
	}
	// the 5 % budget's normal points, not the default 1 %'s
	if z := card.Anomaly.ThresholdZ; math.Abs(z[0]-1.645) > 1e-3 || math.Abs(z[1]-2.576) > 1e-3 {
		t.Errorf("threshold z %v, want the 5 %% budget's [1.645 2.576]", z)
	}
	if card.Anomaly.TopK != 3 || m.P.TopK != 3 {
		t.Errorf("top k: card %d, loaded %d, want 3", card.Anomaly.TopK, m.P.TopK)
	}
	if !card.Anomaly.Positional.Disc || !m.Pos.Bank.Disc {
		t.Errorf("disc: card %v, loaded %v, want both", card.Anomaly.Positional.Disc, m.Pos.Bank.Disc)
	}
	if card.Anomaly.Norm.PatchHotSD <= 0 || card.Anomaly.Norm.PosHotSD <= 0 {
		t.Errorf("heatmap SDs on the card: %+v", card.Anomaly.Norm)
	}
	// the card's neighbourhood reaches the loaded model (the default: 3×3)
	wide := *card.Anomaly
	wide.Neighbourhood = ia.Wide
	if p := Params(&models.Card{Anomaly: &wide}); card.Anomaly.Neighbourhood != 0 || m.P.Neighbourhood != 0 || p.Neighbourhood != ia.Wide {
		t.Errorf("neighbourhood: card %d, loaded %d, a wide card's params %d", card.Anomaly.Neighbourhood, m.P.Neighbourhood, p.Neighbourhood)
	}
	// A version made before pruning (model.onnx = the whole backbone)
	// still loads and scores alike.
	old := *card
	old.Version, old.Anomaly = "v0", new(models.AnomalyInfo)
	*old.Anomaly = *card.Anomaly
	old.Anomaly.BackboneOutputs = nil
	old.FileSHA256 = map[string]string{BankFile: "", GlobalFile: "", PosFile: "", PoseFile: ""}
	oldDir, err := r.Publish(&old, map[string]string{models.ModelFile: bb.File, BankFile: filepath.Join(res.Dir, BankFile),
		GlobalFile: filepath.Join(res.Dir, GlobalFile), PosFile: filepath.Join(res.Dir, PosFile), PoseFile: filepath.Join(res.Dir, PoseFile)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(&old); err != nil || old.ONNXSHA256 != bb.SHA256 {
		t.Fatalf("old-style version: %v, model.onnx sha %s", err, old.ONNXSHA256)
	}
	mOld, err := Open(&old, oldDir, onnx.Options{Threads: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mOld.Close()
	score := func(path string) float32 {
		img, err := opencv.ReadImageFile(path, opencv.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		defer img.Close()
		x := make([]float32, card.Input.TensorLen())
		if err := opencv.Preprocess(img, card.Input, x); err != nil {
			t.Fatal(err)
		}
		_, hm, err := m.Locate(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		_, hmOld, err := mOld.Locate(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(float64(hm.Score - hmOld.Score)); d > 1e-4*math.Max(1, math.Abs(float64(hm.Score))) {
			t.Errorf("%s: pruned model scores %v, the whole backbone %v", path, hm.Score, hmOld.Score)
		}
		return hm.Score
	}
	// A training image's patches are in the bank (up to the coreset).
	var trainFile string
	for _, f := range readManifest(t, filepath.Join(res.Dir, "manifest.json")) {
		if f[1] == "train" {
			trainFile = filepath.Join(data, f[0])
			break
		}
	}
	if s := score(trainFile); s > card.Anomaly.ScoreOK {
		t.Errorf("training image %s scores %.2f, above the OK threshold %.2f", trainFile, s, card.Anomaly.ScoreOK)
	}
	painted := filepath.Join(t.TempDir(), "painted.jpg")
	paint(t, trainFile, painted)
	if s := score(painted); s < card.Anomaly.ScoreNOK {
		t.Errorf("painted defect scores %.2f, below the NOK threshold %.2f", s, card.Anomaly.ScoreNOK)
	}
	// A changed bank, global or positional file is refused.
	for _, name := range []string{BankFile, GlobalFile, PosFile, PoseFile} {
		path := filepath.Join(res.Dir, name)
		b, _ := os.ReadFile(path)
		b[len(b)-1] ^= 1
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := r.Verify(card); !errors.Is(err, models.ErrTampered) {
			t.Errorf("changed %s: %v, want ErrTampered", name, err)
		}
		b[len(b)-1] ^= 1
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A model trained with --resize pad records the mode on its card, so the
// station gives it the images at their own scale as training did: a
// training image scores OK through the card's spec, and the small images
// are not enlarged (the centre of the input is the image's own pixels, the
// border black padding).
func TestTrainPad(t *testing.T) {
	reg := setupORT(t)
	bb, _ := backbones.Get(filepath.Join(reg, backbones.Dir), backbones.MobileNetV2)
	data := filepath.Join(t.TempDir(), "data")
	for i := 0; i < 6; i++ {
		writeJPEG(t, filepath.Join(data, "ok", string(rune('a'+i))+".jpg"), 96+8*(i%3), 80, color.Gray{uint8(100 + i)})
	}
	res, err := Train(context.Background(), Options{Data: data, Name: "m", Registry: reg, OKLabels: []string{"ok"}, Backbone: bb, Threads: 2,
		Resize: inspector.ResizePad, ValFrac: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	if res.Card.Input.Resize != inspector.ResizePad {
		t.Fatalf("card resize %q, want %q", res.Card.Input.Resize, inspector.ResizePad)
	}
	m, err := Open(res.Card, res.Dir, onnx.Options{Threads: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var trainFile string
	for _, f := range readManifest(t, filepath.Join(res.Dir, "manifest.json")) {
		if f[1] == "train" {
			trainFile = filepath.Join(data, f[0])
			break
		}
	}
	img, err := opencv.ReadImageFile(trainFile, opencv.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	spec := res.Card.Input
	x := make([]float32, spec.TensorLen())
	if err := opencv.Preprocess(img, spec, x); err != nil {
		t.Fatal(err)
	}
	// the image's own size, centred: its first row lies (224-80)/2 rows down
	black := -spec.Mean[0] / spec.Std[0]
	top := (spec.Height - img.Rows()) / 2
	if x[(top-1)*spec.Width+spec.Width/2] != black || x[top*spec.Width+spec.Width/2] == black {
		t.Errorf("input rows %d/%d around the image's top edge: %v, %v (black %v)", top-1, top, x[(top-1)*spec.Width+spec.Width/2], x[top*spec.Width+spec.Width/2], black)
	}
	_, hm, err := m.Locate(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if hm.Score > res.Card.Anomaly.ScoreOK {
		t.Errorf("training image %s scores %.2f through the card's spec, above the OK threshold %.2f", trainFile, hm.Score, res.Card.Anomaly.ScoreOK)
	}
}
