package augment

import (
	"math/rand/v2"
	"testing"

	"gocv.io/x/gocv"
)

func benchTransform(b *testing.B, f func(src gocv.Mat, dst *gocv.Mat, rng *rand.Rand)) {
	src := testImage(640, 480)
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	b.SetBytes(int64(640 * 480 * 3))
	for b.Loop() {
		f(src, &dst, rng)
	}
}

func BenchmarkRotate(b *testing.B) {
	benchTransform(b, func(s gocv.Mat, d *gocv.Mat, _ *rand.Rand) { Rotate(s, d, 15, gocv.BorderReflect101) })
}

func BenchmarkShift(b *testing.B) {
	benchTransform(b, func(s gocv.Mat, d *gocv.Mat, _ *rand.Rand) { Shift(s, d, 51, 38, gocv.BorderReflect101) })
}

func BenchmarkMirror(b *testing.B) {
	benchTransform(b, func(s gocv.Mat, d *gocv.Mat, _ *rand.Rand) { gocv.Flip(s, d, 1) })
}

func BenchmarkNoise(b *testing.B) {
	benchTransform(b, func(s gocv.Mat, d *gocv.Mat, rng *rand.Rand) { Noise(s, d, 3, rng) })
}

func BenchmarkDefaultPipeline(b *testing.B) {
	p := DefaultPipeline()
	benchTransform(b, func(s gocv.Mat, d *gocv.Mat, rng *rand.Rand) {
		if _, err := p.Apply(s, d, rng); err != nil {
			b.Fatal(err)
		}
	})
}
