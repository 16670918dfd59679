package augment

import (
	"bytes"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"gocv.io/x/gocv"
)

// testImage is a w×h BGR image with distinct values everywhere.
func testImage(w, h int) gocv.Mat {
	buf := make([]byte, w*h*3)
	for i := range buf {
		buf[i] = uint8((i*37 + i/3*11) % 251)
	}
	m, _ := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, buf)
	return m
}

func equal(t *testing.T, a, b gocv.Mat) bool {
	t.Helper()
	return a.Rows() == b.Rows() && a.Cols() == b.Cols() && bytes.Equal(a.ToBytes(), b.ToBytes())
}

func TestMirrorTwiceIsIdentity(t *testing.T) {
	src := testImage(9, 6)
	defer src.Close()
	for _, code := range []int{0, 1, -1} {
		a, b := gocv.NewMat(), gocv.NewMat()
		gocv.Flip(src, &a, code)
		if equal(t, a, src) {
			t.Errorf("flip %d changed nothing", code)
		}
		gocv.Flip(a, &b, code)
		if !equal(t, b, src) {
			t.Errorf("flip %d twice is not the identity", code)
		}
		a.Close()
		b.Close()
	}
	// The same through a pipeline: mirror with p=1 twice, whatever is drawn.
	p := Pipeline{Steps: []Step{{Type: "mirror", P: 1, Horizontal: true}, {Type: "mirror", P: 1, Horizontal: true}}}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10; i++ {
		dst := gocv.NewMat()
		applied, err := p.Apply(src, &dst, rng)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied)%2 == 0 && !equal(t, dst, src) {
			t.Errorf("even number of horizontal mirrors %v is not the identity", applied)
		}
		dst.Close()
	}
}

func TestZeroRotationAndShiftAreIdentity(t *testing.T) {
	src := testImage(12, 7)
	defer src.Close()
	for _, border := range []gocv.BorderType{gocv.BorderReflect101, gocv.BorderConstant, gocv.BorderReplicate} {
		dst := gocv.NewMat()
		Rotate(src, &dst, 0, border)
		if !equal(t, dst, src) {
			t.Errorf("rotation by 0 (border %v) changed the image", border)
		}
		Shift(src, &dst, 0, 0, border)
		if !equal(t, dst, src) {
			t.Errorf("shift by 0 (border %v) changed the image", border)
		}
		dst.Close()
	}
}

func TestShiftMovesPixel(t *testing.T) {
	cases := []struct {
		name   string
		dx, dy int
	}{{"right", 3, 0}, {"down", 0, 5}, {"up-left", -4, -2}, {"far", 10, 7}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := gocv.NewMatWithSize(20, 30, gocv.MatTypeCV8UC1)
			defer src.Close()
			src.SetUCharAt(8, 12, 255) // row 8, column 12
			dst := gocv.NewMat()
			defer dst.Close()
			Shift(src, &dst, c.dx, c.dy, gocv.BorderConstant)
			if v := dst.GetUCharAt(8+c.dy, 12+c.dx); v != 255 {
				t.Errorf("marked pixel not at (%d,%d): value %d", 12+c.dx, 8+c.dy, v)
			}
			if n := gocv.CountNonZero(dst); n != 1 {
				t.Errorf("%d non-zero pixels after the shift, want 1", n)
			}
		})
	}
}

func TestRotate90IsTransposeFlip(t *testing.T) {
	for _, size := range []int{8, 9} {
		src := testImage(size, size)
		rot, tr, want := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
		Rotate(src, &rot, 90, gocv.BorderConstant)
		gocv.Transpose(src, &tr)
		gocv.Flip(tr, &want, 0) // counter-clockwise: transpose, then flip upside down
		if !equal(t, rot, want) {
			t.Errorf("%dx%d: rotation by 90° differs from transpose+flip", size, size)
		}
		Rotate(src, &rot, -90, gocv.BorderConstant)
		gocv.Flip(tr, &want, 1)
		if !equal(t, rot, want) {
			t.Errorf("%dx%d: rotation by -90° differs from transpose+mirror", size, size)
		}
		for _, m := range []gocv.Mat{src, rot, tr, want} {
			m.Close()
		}
	}
}

func TestSeedDeterminesOutput(t *testing.T) {
	src := testImage(64, 48)
	defer src.Close()
	full := DefaultPipeline()
	full.Steps = append(full.Steps, Step{Type: "perspective", P: 1, Strength: 0.05})
	for i := range full.Steps {
		full.Steps[i].P = 1 // every step runs
	}
	run := func(seed uint64) ([]byte, []Applied) {
		dst := gocv.NewMat()
		defer dst.Close()
		a, err := full.Apply(src, &dst, rand.New(rand.NewPCG(seed, 0)))
		if err != nil {
			t.Fatal(err)
		}
		if dst.Cols() != 64 || dst.Rows() != 48 || dst.Type() != src.Type() {
			t.Fatalf("output %dx%d type %v", dst.Cols(), dst.Rows(), dst.Type())
		}
		return dst.ToBytes(), a
	}
	a1, p1 := run(42)
	a2, _ := run(42)
	b, _ := run(43)
	if !bytes.Equal(a1, a2) {
		t.Error("same seed gave different images")
	}
	if bytes.Equal(a1, b) {
		t.Error("other seed gave the same image")
	}
	if len(p1) < 8 {
		t.Errorf("applied %d steps with p=1: %v", len(p1), p1)
	}
}

func TestParsePipeline(t *testing.T) {
	good := `
steps:
  - {type: rotate, p: 0.5, degrees: [-10, 10], border: constant}
  - {type: shift, p: 0.5, x: 0.1, y: 0.05}
`
	p, err := ParsePipeline([]byte(good))
	if err != nil || len(p.Steps) != 2 || p.Steps[0].Degrees != (Range{-10, 10}) {
		t.Fatalf("parse: %+v %v", p, err)
	}
	if _, err := ParsePipeline(p.JSON()); err != nil {
		t.Errorf("JSON round trip: %v", err)
	}
	bad := map[string]string{
		"unknown type":   `steps: [{type: swirl, p: 1}]`,
		"bad border":     `steps: [{type: rotate, p: 1, degrees: [0, 1], border: wrap}]`,
		"reversed range": `steps: [{type: rotate, p: 1, degrees: [10, -10]}]`,
		"probability":    `steps: [{type: blur, p: 2, sigma: [1, 2]}]`,
		"unknown field":  `steps: [{type: blur, p: 1, sigma: [1, 2], radius: 3}]`,
		"no mirror axis": `steps: [{type: mirror, p: 1}]`,
	}
	for name, text := range bad {
		if _, err := ParsePipeline([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name != "unknown field" && !strings.Contains(err.Error(), "step 1") {
			t.Errorf("%s: error does not name the step: %v", name, err)
		}
	}
	if err := DefaultPipeline().Validate(); err != nil {
		t.Errorf("default pipeline invalid: %v", err)
	}
}

// TestShippedPipelines loads every pipeline file in pipelines/ (make models
// trains with them) and runs it on an image.
func TestShippedPipelines(t *testing.T) {
	files, err := filepath.Glob("pipelines/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no pipeline files in pipelines/: %v", err)
	}
	src := testImage(40, 30)
	defer src.Close()
	for _, f := range files {
		p, err := LoadPipeline(f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if len(p.Steps) == 0 {
			t.Errorf("%s: no steps", f)
		}
		dst := gocv.NewMat()
		if _, err := p.Apply(src, &dst, rand.New(rand.NewPCG(1, 2))); err != nil || dst.Cols() != 40 || dst.Rows() != 30 {
			t.Errorf("%s: apply: %v, %dx%d", f, err, dst.Cols(), dst.Rows())
		}
		dst.Close()
	}
}

// TestNoiseStatistics checks the table-driven noise: on a flat mid-grey
// image the added values have mean 0 and the asked standard deviation, the
// same seed gives the same image, and at black the noise is clipped, not
// wrapped round to white.
func TestNoiseStatistics(t *testing.T) {
	grey := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 200, 200, gocv.MatTypeCV8UC3)
	defer grey.Close()
	for _, sigma := range []float64{1, 3, 5} {
		a, b := gocv.NewMat(), gocv.NewMat()
		Noise(grey, &a, sigma, rand.New(rand.NewPCG(5, 5)))
		Noise(grey, &b, sigma, rand.New(rand.NewPCG(5, 5)))
		if !equal(t, a, b) {
			t.Errorf("sigma %v: the same seed gave different noise", sigma)
		}
		pix, _ := a.DataPtrUint8()
		var sum, sq float64
		for _, v := range pix {
			d := float64(v) - 128
			sum += d
			sq += d * d
		}
		n := float64(len(pix))
		mean := sum / n
		std := math.Sqrt(sq/n - mean*mean)
		// Rounding to whole levels adds a variance of 1/12.
		want := math.Sqrt(sigma*sigma + 1.0/12)
		t.Logf("sigma %v: mean %.4f, std %.4f (want %.4f)", sigma, mean, std, want)
		if math.Abs(mean) > 0.02 || math.Abs(std-want) > 0.02*want {
			t.Errorf("sigma %v: mean %.4f, std %.4f; want mean 0, std %.4f", sigma, mean, std, want)
		}
		a.Close()
		b.Close()
	}
	black := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(0, 0, 0, 0), 100, 100, gocv.MatTypeCV8UC1)
	defer black.Close()
	out := gocv.NewMat()
	defer out.Close()
	Noise(black, &out, 5, rand.New(rand.NewPCG(1, 1)))
	pix, _ := out.DataPtrUint8()
	for i, v := range pix {
		if v > 30 {
			t.Fatalf("value %d of noisy black is %d: negative noise wrapped round", i, v)
		}
	}
}
