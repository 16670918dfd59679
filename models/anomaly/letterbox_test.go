package anomaly

import (
	"context"
	"errors"
	"image/color"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
	ia "github.com/pruefplatz/pruefplatz/inspector/anomaly"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models/backbones"
	"gocv.io/x/gocv"
)

// The letterbox the model derives from a padded input is the one the
// preprocessing makes from the image itself (up to OpenCV's 8-bit
// rounding), for images it enlarges and images it shrinks.
func TestLetterboxInputMatchesPreprocess(t *testing.T) {
	pad := Spec(3, inspector.ResizePad, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ g, w, h int }{{2, 300, 200}, {2, 250, 410}, {2, 640, 500}, {2, 520, 610}, {2, 448, 300},
		{1, 300, 200}, {1, 640, 500}, {1, 150, 100}, {1, 224, 180}} {
		w, h, lb := c.w, c.h, Spec(c.g, inspector.ResizeLetterbox, nil)
		img := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
		// smooth content (a resize of noise depends on the rounding
		// more than on the method), never black: black would be padding
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				for c := 0; c < 3; c++ {
					v := 128 + 100*math.Sin(float64(x)/17+float64(c))*math.Cos(float64(y)/23) + 10*rng.Float64()
					img.SetUCharAt(y, 3*x+c, uint8(max(1, min(255, v))))
				}
			}
		}
		x := make([]float32, pad.TensorLen())
		want := make([]float32, lb.TensorLen())
		if err := opencv.Preprocess(img, pad, x); err != nil {
			t.Fatal(err)
		}
		if err := opencv.Preprocess(img, lb, want); err != nil {
			t.Fatal(err)
		}
		img.Close()
		if b := ia.ContentBox(x, pad.Width, PadValues(pad)); b.W != w || b.H != h {
			t.Errorf("%d×%d: content box %+v", w, h, b)
		}
		got, err := ia.LetterboxInput(x, pad.Width, lb.Width, PadValues(pad))
		if err != nil {
			t.Fatal(err)
		}
		// OpenCV resizes 8-bit pixels with fixed-point weights and
		// rounds, this float32 inputs: within one 8-bit step (measured:
		// at most 1.0, on average 0.16–0.23; a one-pixel shift of this
		// content is several steps on average)
		step := 1 / (255 * float64(lb.Std[0]))
		var worst, sum float64
		for i := range got {
			d := math.Abs(float64(got[i] - want[i]))
			worst, sum = math.Max(worst, d), sum+d
		}
		mean := sum / float64(len(got))
		t.Logf("%d×%d to %d px: largest %.2f, mean %.3f 8-bit steps", w, h, lb.Width, worst/step, mean/step)
		if worst > 1.5*step || mean > 0.3*step {
			t.Errorf("%d×%d: difference from the preprocessing's letterbox: largest %.2f, mean %.3f 8-bit steps", w, h, worst/step, mean/step)
		}
	}
	if _, err := ia.LetterboxInput(make([]float32, 10), pad.Width, embed.Size, PadValues(pad)); err == nil {
		t.Error("short input accepted")
	}
}

// A model with a letterboxed part scores each image as the standardised
// sum of its two parts, each computed here by brute force (the nearest
// bank patch of every patch by a full scan); the card records the part
// and a loaded model scores as the trained one.
func TestTrainLetterbox(t *testing.T) {
	reg := setupORT(t)
	bb, _ := backbones.Get(filepath.Join(reg, backbones.Dir), backbones.MobileNetV2)
	data := filepath.Join(t.TempDir(), "data")
	for i := 0; i < 10; i++ {
		writeJPEG(t, filepath.Join(data, "ok", string(rune('a'+i))+".jpg"), 96+8*(i%4), 80+4*(i%3), color.Gray{uint8(100 + 3*i)})
	}
	writeJPEG(t, filepath.Join(data, "bad", "x.jpg"), 120, 90, color.Gray{40})
	opt := Options{Data: data, Name: "m", Registry: reg, OKLabels: []string{"ok"}, Backbone: bb, Threads: 2,
		Resize: inspector.ResizePad, ValFrac: 0.3, TopK: 3, LetterboxGrid: 1, LetterboxMedianOffset: 0.5}
	bad := opt
	bad.Resize = inspector.ResizeLetterbox
	if _, err := Train(context.Background(), bad); !errors.Is(err, ErrBadOption) {
		t.Errorf("a letterboxed part on a letterboxed input: %v, want ErrBadOption", err)
	}
	res, err := Train(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	a := res.Card.Anomaly
	if a.Letterbox == nil || a.Letterbox.Grid != 1 || a.Letterbox.MedianOffset != 0.5 || a.Letterbox.TopK != 3 || a.Norm == nil || a.Norm.LbSD <= 0 {
		t.Fatalf("card: letterbox %+v, norm %+v", a.Letterbox, a.Norm)
	}
	if err := res.Card.Validate(); err != nil {
		t.Fatal(err)
	}
	m, err := Open(res.Card, res.Dir, onnx.Options{Threads: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Lb == nil {
		t.Fatal("the loaded model has no letterboxed part")
	}
	spec := res.Card.Input
	for _, name := range []string{filepath.Join("ok", "a.jpg"), filepath.Join("bad", "x.jpg")} {
		x, err := opencv.PreprocessFile(filepath.Join(data, name), spec)
		if err != nil {
			t.Fatal(err)
		}
		_, hm, err := m.Locate(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		// brute force: the patch part on x, the letterboxed part on x's
		// image letterboxed to 224 px
		f, err := ia.Extract(context.Background(), m.Runner(), x, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		lx, err := ia.LetterboxInput(x, spec.Width, embed.Size, PadValues(spec))
		if err != nil {
			t.Fatal(err)
		}
		lf, err := ia.Extract(context.Background(), m.Runner(), lx, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		patch := bruteScore(f, m.Bank, 3, 0)
		lb := bruteScore(lf, m.Lb.Bank, 3, 0.5)
		n := a.Norm
		want := (patch-float64(n.PatchMean))/float64(n.PatchSD) + (lb-float64(n.LbMean))/float64(n.LbSD)
		if math.Abs(float64(hm.Score)-want) > 1e-3*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: score %.5f, brute force %.5f (patch %.4f, letterboxed %.4f)", name, hm.Score, want, patch, lb)
		}
	}
}

// bruteScore is the mean of the k largest nearest-patch distances of the
// features f (patches × Dim) to bank, less off × their median.
func bruteScore(f []float32, bank *ia.Bank, k int, off float64) float64 {
	n := len(f) / ia.Dim
	d := make([]float64, n)
	for i := range d {
		best := math.Inf(1)
		for j := 0; j < bank.Len(); j++ {
			var s float64
			for c := 0; c < ia.Dim; c++ {
				v := float64(f[i*ia.Dim+c] - bank.Data[j*ia.Dim+c])
				s += v * v
			}
			best = math.Min(best, s)
		}
		d[i] = math.Sqrt(best)
	}
	sort.Float64s(d)
	var top float64
	for _, v := range d[n-k:] {
		top += v
	}
	top /= float64(k)
	med := d[(n-1)/2]
	if n%2 == 0 {
		med = (d[n/2-1] + d[n/2]) / 2
	}
	return top - off*med
}
