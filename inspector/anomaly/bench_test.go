package anomaly

import (
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
)

func BenchmarkTileFeatures(b *testing.B) {
	s8, s16 := randPoints(1, 1, embed.S8Len), randPoints(2, 1, embed.S16Len)
	dst, tmp := make([]float32, Patches*Dim), make([]float32, Patches*Dim)
	for b.Loop() {
		TileFeatures(s8, s16, dst, tmp)
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
