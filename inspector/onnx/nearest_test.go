package onnx

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	ia "github.com/pruefplatz/pruefplatz/inspector/anomaly"
)

// The ONNX Runtime search gives the pure-Go search's distances.
func TestNearestMatchesGo(t *testing.T) {
	setup(t)
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]float32, 300*ia.Dim)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	bank, err := ia.NewBank(data, ia.Dim)
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNearest(bank, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	// threads that do not spin (the anomaly model's setting) search alike
	quiet, err := NewNearest(bank, Options{Threads: 2, NoSpin: true})
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	for _, p := range []int{1, 50, 784} {
		q := make([]float32, p*ia.Dim)
		for i := range q {
			q[i] = float32(r.NormFloat64())
		}
		copy(q, data[7*ia.Dim:8*ia.Dim]) // a bank patch: distance ~0
		got, want := make([]float32, p), make([]float32, p)
		if err := n.Nearest(context.Background(), q, got); err != nil {
			t.Fatal(err)
		}
		bank.Nearest(q, want, 1)
		gotQuiet := make([]float32, p)
		if err := quiet.Nearest(context.Background(), q, gotQuiet); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-3*float64(want[i])+0.05 {
				t.Fatalf("%d patches, patch %d: onnx %v, go %v", p, i, got[i], want[i])
			}
			if math.Abs(float64(gotQuiet[i]-want[i])) > 1e-3*float64(want[i])+0.05 {
				t.Fatalf("%d patches, patch %d: onnx without spinning %v, go %v", p, i, gotQuiet[i], want[i])
			}
		}
	}
	if err := n.Nearest(context.Background(), make([]float32, 5), make([]float32, 1)); err == nil {
		t.Error("wrong length accepted")
	}
	n.Close()
	if err := n.Nearest(context.Background(), make([]float32, ia.Dim), make([]float32, 1)); err == nil {
		t.Error("closed session ran")
	}
}

// The word search in the same run finds each patch's nearest word, as the
// pure-Go search does, and the distances stay the bank search's.
func TestNearestWordsMatchesGo(t *testing.T) {
	setup(t)
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]float32, 200*ia.Dim)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	bank, err := ia.NewBank(data, ia.Dim)
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNearest(bank, Options{Threads: 2, NoSpin: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	gs := ia.GoSearcher{Bank: bank, Workers: 1}
	for _, c := range []struct{ patches, words int }{{784, 64}, {50, 64}, {50, 16}} {
		q := make([]float32, c.patches*ia.Dim)
		for i := range q {
			q[i] = float32(r.NormFloat64())
		}
		got, want := make([]float32, c.patches), make([]float32, c.patches)
		gotW, wantW := make([]int32, c.patches), make([]int32, c.patches)
		if err := n.NearestWords(context.Background(), q, got, gotW, c.words); err != nil {
			t.Fatal(err)
		}
		if err := gs.NearestWords(context.Background(), q, want, wantW, c.words); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Abs(float64(got[i]-want[i])) > 1e-3*float64(want[i])+0.05 {
				t.Fatalf("%+v, patch %d: onnx %v, go %v", c, i, got[i], want[i])
			}
			if gotW[i] != wantW[i] {
				t.Fatalf("%+v, patch %d: onnx word %d, go %d", c, i, gotW[i], wantW[i])
			}
		}
	}
	for _, bad := range []int{0, 201} {
		if err := n.NearestWords(context.Background(), make([]float32, ia.Dim), make([]float32, 1), make([]int32, 1), bad); err == nil {
			t.Errorf("%d words accepted", bad)
		}
	}
}

// BenchmarkNearestWords is the per-frame bank search of a one-tile image
// (784 patches) against a demo-sized bank with a 64-word global part, on
// two threads as the station runs it.
func BenchmarkNearestWords(b *testing.B) {
	setup(b)
	r := rand.New(rand.NewPCG(3, 4))
	data := make([]float32, 1882*ia.Dim)
	for i := range data {
		data[i] = float32(r.NormFloat64())
	}
	bank, err := ia.NewBank(data, ia.Dim)
	if err != nil {
		b.Fatal(err)
	}
	n, err := NewNearest(bank, Options{Threads: 2, NoSpin: true})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	q := data[:ia.Patches*ia.Dim]
	d, a := make([]float32, ia.Patches), make([]int32, ia.Patches)
	for b.Loop() {
		if err := n.NearestWords(context.Background(), q, d, a, 64); err != nil {
			b.Fatal(err)
		}
	}
}
