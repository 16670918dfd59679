package onnx

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// The tests run the shipped default parts model: 6 classes, 64×64 RGB.
const (
	testModel   = "../../models/demo-parts/v1/model.onnx"
	testClasses = 6
)

var testSpec = inspector.InputSpec{Width: 64, Height: 64, Channels: 3, Resize: inspector.ResizeStretch,
	Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}}

func setup(t testing.TB) {
	t.Helper()
	lib, _ := filepath.Abs("../../.deps/onnxruntime/libonnxruntime.so.1")
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("ONNX Runtime missing at %s: run make setup", lib)
	}
	if err := Init(lib); err != nil {
		t.Fatal(err)
	}
	if err := Init(lib); err != nil {
		t.Fatalf("second Init: %v", err)
	}
	if _, err := os.Stat(testModel); err != nil {
		t.Fatalf("default model missing: %v", err)
	}
}

func TestInspectAndShapes(t *testing.T) {
	setup(t)
	info, err := Inspect(testModel)
	if err != nil {
		t.Fatal(err)
	}
	if err := info.CheckShapes(testSpec, testClasses); err != nil {
		t.Errorf("the model's own spec refused: %v", err)
	}
	wrongSize := testSpec
	wrongSize.Width = 96
	wrongChannels := testSpec
	wrongChannels.Channels, wrongChannels.Mean, wrongChannels.Std = 1, []float32{0.5}, []float32{0.25}
	for name, c := range map[string]struct {
		spec    inspector.InputSpec
		classes int
	}{"input size": {wrongSize, testClasses}, "channels": {wrongChannels, testClasses}, "classes": {testSpec, 5}} {
		if err := info.CheckShapes(c.spec, c.classes); !errors.Is(err, inspector.ErrModelShape) {
			t.Errorf("%s mismatch: %v, want ErrModelShape", name, err)
		}
		if _, err := Open(testModel, c.spec, c.classes, Options{}); !errors.Is(err, inspector.ErrModelShape) {
			t.Errorf("Open with %s mismatch: %v, want ErrModelShape", name, err)
		}
	}
}

func TestCorruptModelRefused(t *testing.T) {
	setup(t)
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte("this is not a protobuf"), 0o644)
	if _, err := Open(bad, testSpec, testClasses, Options{}); err == nil {
		t.Error("corrupt model opened")
	}
	b, _ := os.ReadFile(testModel)
	trunc := filepath.Join(t.TempDir(), "trunc.onnx")
	os.WriteFile(trunc, b[:len(b)/2], 0o644)
	if _, err := Open(trunc, testSpec, testClasses, Options{}); err == nil {
		t.Error("truncated model opened")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.onnx"), testSpec, testClasses, Options{}); err == nil {
		t.Error("missing model opened")
	}
}

func TestClassifyConcurrent(t *testing.T) {
	setup(t)
	s, err := Open(testModel, testSpec, testClasses, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := make([]float32, testSpec.TensorLen())
	for i := range in {
		in[i] = float32(i%97)/48 - 1
	}
	want, err := s.Classify(context.Background(), in)
	if err != nil || len(want) != testClasses {
		t.Fatalf("classify: %v, %d outputs", err, len(want))
	}
	if _, err := s.Classify(context.Background(), in[:10]); err == nil {
		t.Error("short input accepted")
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				got, err := s.Classify(context.Background(), in)
				if err != nil {
					t.Error(err)
					return
				}
				for j := range got {
					if math.Abs(float64(got[j]-want[j])) > 1e-5 {
						t.Errorf("concurrent result differs: %v vs %v", got, want)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	s.Close()
	if _, err := s.Classify(context.Background(), in); err == nil {
		t.Error("classify after close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// BenchmarkClassify runs the shipped 64×64 parts model with one and two
// intra-op threads, to choose the station's default.
func BenchmarkClassify(b *testing.B) {
	setup(b)
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			s, err := Open(testModel, testSpec, testClasses, Options{Threads: threads})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			in := make([]float32, testSpec.TensorLen())
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.Classify(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestDestroyAndInitAgain(t *testing.T) {
	setup(t)
	lib, _ := filepath.Abs("../../.deps/onnxruntime/libonnxruntime.so.1")
	if err := Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := Destroy(); err != nil {
		t.Fatalf("second Destroy: %v", err)
	}
	if _, err := Open(tinyModel, tinySpec, 3, Options{}); err == nil {
		t.Fatal("Open without an environment succeeded")
	}
	if err := Init(lib); err != nil {
		t.Fatalf("Init after Destroy: %v", err)
	}
	s, err := Open(tinyModel, tinySpec, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}
