package quality

import (
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
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// blobs draws a random scene of a few bright rectangles on a shaded
// table (real light is never perfectly flat): scenes of different seeds
// differ in structure, as different parts do.
func blobs(seed uint64, w, h int) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 7))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(80 + 24*x/w + 8*y/h)
			img.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	for range 6 {
		x0, y0 := rng.IntN(w), rng.IntN(h)
		x1, y1 := x0+5+rng.IntN(w/2), y0+5+rng.IntN(h/2)
		v := 120 + rng.IntN(100)
		for y := y0; y < min(y1, h); y++ {
			for x := x0; x < min(x1, w); x++ {
				c := uint8(min(255, v-30*x/w))
				img.Set(x, y, color.RGBA{c, c, c, 255})
			}
		}
	}
	return img
}

// noisy adds small pixel noise, as a second shot of the same part would.
func noisy(src *image.RGBA, seed uint64) *image.RGBA {
	rng := rand.New(rand.NewPCG(seed, 9))
	out := image.NewRGBA(src.Bounds())
	copy(out.Pix, src.Pix)
	for i := range out.Pix {
		if i%4 != 3 {
			out.Pix[i] = uint8(min(255, max(0, int(out.Pix[i])+rng.IntN(9)-4)))
		}
	}
	return out
}

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

func TestHashSeparatesScenesAndKeepsNoisyCopies(t *testing.T) {
	a, b := blobs(1, 96, 80), blobs(2, 96, 80)
	ha, hb, ha2 := Hash(a, nil, 16), Hash(b, nil, 16), Hash(noisy(a, 3), nil, 16)
	if d := Distance(ha, ha2); d > 12 {
		t.Errorf("noisy copy is %d bits away, want ≤ 12 of 256", d)
	}
	if d := Distance(ha, hb); d < 40 {
		t.Errorf("different scenes are only %d bits apart, want ≥ 40 of 256", d)
	}
	// An ROI that holds the same content hashes the same as the content alone.
	big := image.NewRGBA(image.Rect(0, 0, 200, 150))
	for y := range 80 {
		copy(big.Pix[(y+30)*big.Stride+50*4:(y+30)*big.Stride+(50+96)*4], a.Pix[y*a.Stride:(y+1)*a.Stride])
	}
	if d := Distance(ha, Hash(big, &inspector.Rect{X: 50, Y: 30, W: 96, H: 80}, 16)); d > 2 {
		t.Errorf("ROI of the embedded scene is %d bits from the scene, want ≤ 2", d)
	}
}

// fixture writes a small dataset: 30 "a" and 6 "b" training images, and
// test images of which one is a noisy copy of a training image. Test images
// carry a light condition; the dim ones are the ones the model gets wrong.
func fixture(t *testing.T) (string, []Image, []Prediction) {
	root := t.TempDir()
	var imgs []Image
	add := func(path, class, split string, img image.Image, cond map[string]string) {
		writePNG(t, filepath.Join(root, path), img)
		imgs = append(imgs, Image{Path: path, Class: class, Split: split, Conditions: cond})
	}
	seed := uint64(100)
	for i := range 30 {
		seed++
		add("a/train"+itoa(i)+".png", "a", "train", blobs(seed, 64, 64), nil)
	}
	for i := range 6 {
		seed++
		add("b/train"+itoa(i)+".png", "b", "train", blobs(seed, 64, 64), nil)
	}
	var preds []Prediction
	// The duplicate: a noisy copy of a/train0.
	add("a/test-dup.png", "a", "test", noisy(blobs(101, 64, 64), 5), map[string]string{"light": "bright"})
	preds = append(preds, Prediction{Path: "a/test-dup.png", Label: "a", Predicted: "a", Confidence: 0.99})
	for i := range 12 {
		seed++
		p := "a/test" + itoa(i) + ".png"
		add(p, "a", "test", blobs(seed+1000, 64, 64), map[string]string{"light": "bright"})
		preds = append(preds, Prediction{Path: p, Label: "a", Predicted: "a", Confidence: 0.95})
	}
	for i := range 12 {
		seed++
		p := "b/test" + itoa(i) + ".png"
		add(p, "b", "test", blobs(seed+2000, 64, 64), map[string]string{"light": "dim"})
		pr := Prediction{Path: p, Label: "b", Predicted: "b", Confidence: 0.8}
		if i < 5 {
			pr.Predicted, pr.Confidence = "a", 0.6
		}
		if i == 0 {
			pr.Confidence = 0.97 // wrong and sure: a likely label error
		}
		preds = append(preds, pr)
	}
	return root, imgs, preds
}

func itoa(i int) string { return string(rune('A'+i/26)) + string(rune('a'+i%26)) }

func TestCheckFindsEachProblem(t *testing.T) {
	root, imgs, preds := fixture(t)
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	q, err := Check(context.Background(), Input{Root: root, Images: imgs, Predictions: preds}, Options{Tool: "test", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if q.Imbalance.Ratio != 5 || q.Imbalance.Largest != "a" || q.Imbalance.Smallest != "b" {
		t.Errorf("imbalance = %+v, want a/b ratio 5", q.Imbalance)
	}
	nd := q.NearDuplicates
	if nd.TestWithDuplicate != 1 || len(nd.Pairs) == 0 || nd.Pairs[0].Test != "a/test-dup.png" || nd.Pairs[0].Train != "a/trainAa.png" {
		t.Errorf("near duplicates = %d, closest %+v; want exactly a/test-dup.png ↔ a/trainAa.png", nd.TestWithDuplicate, nd.Pairs[:min(1, len(nd.Pairs))])
	}
	if nd.Train != 36 || nd.Test != 25 {
		t.Errorf("compared %d train and %d test images, want 36 and 25", nd.Train, nd.Test)
	}
	if want := 20.0 / 25; q.Accuracy != want {
		t.Errorf("accuracy %.3f, want %.3f", q.Accuracy, want)
	}
	var dim, bright bool
	for _, sg := range q.Subgroups {
		switch sg.Value {
		case "dim":
			dim = sg.Low && sg.N == 12
		case "bright":
			bright = !sg.Low && sg.N == 13 && sg.Accuracy == 1
		}
	}
	if !dim || !bright || strings.Join(q.Conditions, ",") != "light" {
		t.Errorf("subgroups %+v (conditions %v): want dim marked low, bright not", q.Subgroups, q.Conditions)
	}
	if len(q.Suspects) != 1 || q.Suspects[0].Path != "b/testAa.png" {
		t.Errorf("suspects %+v, want only b/testAa.png", q.Suspects)
	}
	if len(q.Warnings) != 4 {
		t.Errorf("warnings %q, want 4 (imbalance, duplicates, dim subgroup, suspects)", q.Warnings)
	}
	if !q.Computed.Equal(now) || q.Tool != "test" {
		t.Errorf("computed %v by %q", q.Computed, q.Tool)
	}
}

func TestCheckErrors(t *testing.T) {
	root, imgs, preds := fixture(t)
	if _, err := Check(context.Background(), Input{Root: root, Images: imgs}, Options{}); !errors.Is(err, ErrNoTestImages) {
		t.Errorf("no predictions: %v, want ErrNoTestImages", err)
	}
	broken := imgs[len(imgs)-1].Path
	if err := os.WriteFile(filepath.Join(root, broken), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Check(context.Background(), Input{Root: root, Images: imgs, Predictions: preds}, Options{})
	if err == nil || !strings.Contains(err.Error(), broken) {
		t.Errorf("broken image: %v, want an error naming it", err)
	}
}

func TestReadManifestConditions(t *testing.T) {
	m := map[string]any{"files": []map[string]any{
		{"path": "a/1.jpg", "class": "a", "split": "test", "sha256": "x", "session": "s1", "conditions": map[string]any{"light": "dim"}},
		{"path": "a/2.jpg", "class": "a", "split": "train", "sha256": "y"},
	}}
	b, _ := json.Marshal(m)
	p := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	imgs, err := ReadManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || imgs[0].Conditions["session"] != "s1" || imgs[0].Conditions["light"] != "dim" || imgs[1].Conditions != nil {
		t.Errorf("read %+v", imgs)
	}
	if err := os.WriteFile(p, []byte(`{"files":[{"split":"test"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadManifest(p); err == nil {
		t.Error("an entry without a path was accepted")
	}
}

func TestAddConditions(t *testing.T) {
	images := []Image{{Path: "a/1.jpg", Conditions: map[string]string{"light": "dim"}}, {Path: "a/2.jpg"}}
	p := filepath.Join(t.TempDir(), ConditionsFile)
	if err := os.WriteFile(p, []byte(`{"a/1.jpg": {"light": "bright", "session": "s1"}, "a/2.jpg": {"session": "s2"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	n, unknown, err := AddConditions(images, p)
	if err != nil || n != 2 || unknown != 0 {
		t.Fatalf("added to %d images, %d unknown: %v", n, unknown, err)
	}
	if images[0].Conditions["light"] != "dim" || images[0].Conditions["session"] != "s1" || images[1].Conditions["session"] != "s2" {
		t.Errorf("conditions %+v %+v; the manifest's light must stay", images[0].Conditions, images[1].Conditions)
	}
	if err := os.WriteFile(p, []byte(`{"b/9.jpg": {"session": "s3"}, "a/2.jpg": {"light": "dim"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, unknown, err := AddConditions(images, p); err != nil || n != 1 || unknown != 1 || images[1].Conditions["light"] != "dim" {
		t.Errorf("a path outside the manifest: added %d, unknown %d, %v", n, unknown, err)
	}
	if err := os.WriteFile(p, []byte(`{"a/1.jpg": "dim"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := AddConditions(images, p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("a malformed file: %v", err)
	}
}
