package anomaly

import (
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

// BenchmarkImageFeatures is the per-frame cost of the patch features of a
// one-tile image from the backbone's maps.
func BenchmarkImageFeatures(b *testing.B) {
	batch := embed.Batch{N: 1, S8: randPoints(1, 1, embed.S8Len), S16: randPoints(2, 1, embed.S16Len)}
	for b.Loop() {
		ImageFeatures(batch, 1)
	}
}

func BenchmarkNearestGo(b *testing.B) {
	bank, _ := NewBank(randPoints(3, 1000, Dim), Dim)
	q := randPoints(4, Patches, Dim)
	d := make([]float32, Patches)
	for b.Loop() {
		bank.Nearest(q, d, 2)
	}
}

// BenchmarkPose is the per-frame cost of finding the pose and the
// positional distances of a 224 px input (28² patches, 32 per cell).
func BenchmarkPose(b *testing.B) {
	const s = 224
	var greys [][]float32
	for i := 0; i < 4; i++ {
		g, _ := Grey(part(s, 0.5, 0.5, float64(i)), s)
		greys = append(greys, g)
	}
	ref, err := NewPoseRef(greys)
	if err != nil {
		b.Fatal(err)
	}
	x := part(s, 0.51, 0.49, 2.5)
	pb, _ := NewPosBank(make([]float32, Side*Side*32*Dim), Side, 32)
	f := make([]float32, Side*Side*Dim)
	d := make([]float32, Side*Side)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g, _ := Grey(x, s)
		pb.Distances(f, ref.Estimate(g), d)
	}
}

// BenchmarkPosDistances is the per-frame cost of the positional distances
// alone (28² patches against their cells' 32).
func BenchmarkPosDistances(b *testing.B) {
	pb, _ := NewPosBank(randPoints(5, Side*Side*32, Dim), Side, 32)
	f := randPoints(6, Side*Side, Dim)
	d := make([]float32, Side*Side)
	ps := Pose{CX: 0.51, CY: 0.49, Angle: 0.3}
	for b.Loop() {
		pb.Distances(f, ps, d)
	}
}

// BenchmarkWiden is the cost of one widening of a 2×2-tile image's patch
// features (--neighbourhood 5 once, 7 twice).
func BenchmarkWiden(b *testing.B) {
	f := randPoints(7, 4*Patches, Dim)
	for b.Loop() {
		Widen(f, 2)
	}
}
