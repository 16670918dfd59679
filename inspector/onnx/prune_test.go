package onnx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

// writePruned writes the shipped backbone pruned to FeatureOutputs into a
// temporary folder and returns both backbones.
func writePruned(t testing.TB) (full, pruned embed.Backbone, data []byte) {
	t.Helper()
	full, err := backbones.Get("../../models/backbones", backbones.MobileNetV2)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(full.File)
	if err != nil {
		t.Fatalf("shipped backbone: %v", err)
	}
	data, err = Prune(src, FeatureOutputs...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Prune(src, FeatureOutputs...)
	if err != nil || !bytes.Equal(data, again) {
		t.Fatalf("pruning twice gave different bytes (err %v): the recorded sha256 could not be derived again", err)
	}
	if len(data) >= len(src)*3/4 {
		t.Errorf("pruned backbone has %d bytes of the full %d: the stride-32 stage's weights should be gone", len(data), len(src))
	}
	pruned = full
	pruned.File = filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(pruned.File, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	pruned.SHA256 = hex.EncodeToString(sum[:])
	return full, pruned, data
}

// The pruned backbone computes the full backbone's feat_s8 and feat_s16.
func TestPrunedBackboneMatchesFull(t *testing.T) {
	setup(t)
	fullB, prunedB, _ := writePruned(t)
	info, err := Inspect(prunedB.File)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Outputs) != 2 || info.Outputs[0].Name != embed.OutFeatS8 || info.Outputs[1].Name != embed.OutFeatS16 {
		t.Fatalf("pruned outputs %v, want %v", info.Outputs, FeatureOutputs)
	}
	full, err := OpenBackbone(fullB, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	pruned, err := OpenBackbone(prunedB, Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pruned.Close()
	if full.Pruned() || !pruned.Pruned() {
		t.Fatalf("Pruned(): full %v, pruned %v", full.Pruned(), pruned.Pruned())
	}
	r := rand.New(rand.NewPCG(3, 4))
	const n = 3
	x := make([]float32, n*3*embed.Size*embed.Size)
	for i := range x {
		x[i] = float32(r.Float64()*2 - 1)
	}
	ctx := context.Background()
	want, err := full.Run(ctx, x, n, embed.FeatS8|embed.FeatS16)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pruned.Run(ctx, x, n, embed.FeatS8|embed.FeatS16)
	if err != nil {
		t.Fatal(err)
	}
	if got.Embedding != nil {
		t.Errorf("pruned backbone returned an embedding of %d values", len(got.Embedding))
	}
	for _, c := range []struct {
		name      string
		got, want []float32
	}{{"feat_s8", got.S8, want.S8}, {"feat_s16", got.S16, want.S16}} {
		if len(c.got) != len(c.want) || len(c.want) == 0 {
			t.Fatalf("%s: %d values, want %d", c.name, len(c.got), len(c.want))
		}
		var worst, scale float64
		for i := range c.want {
			worst = math.Max(worst, math.Abs(float64(c.got[i]-c.want[i])))
			scale = math.Max(scale, math.Abs(float64(c.want[i])))
		}
		if worst > 1e-5*scale {
			t.Errorf("%s: largest difference %g (values up to %g)", c.name, worst, scale)
		}
	}
	if _, err := pruned.Run(ctx, x, n, embed.FeatS32); err == nil {
		t.Error("the pruned backbone ran feat_s32")
	}
}

// A pruned file is verified against its own sha256 like the full one.
func TestPrunedBackboneVerified(t *testing.T) {
	setup(t)
	_, b, data := writePruned(t)
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 0x40 // inside the weights
	if err := os.WriteFile(b.File, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenBackbone(b, Options{}); !errors.Is(err, embed.ErrBackboneMismatch) {
		t.Errorf("changed pruned backbone: %v, want ErrBackboneMismatch", err)
	}
}

func TestPruneRefuses(t *testing.T) {
	src, err := os.ReadFile("../../models/backbones/mobilenet-v2/mobilenet_v2_1.0_224.onnx")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		model   []byte
		outputs []string
	}{
		"no outputs":        {src, nil},
		"unknown output":    {src, []string{"feat_s4"}},
		"inner tensor":      {src, []string{"input"}},
		"not protobuf":      {[]byte{0xff, 0xff, 0xff}, FeatureOutputs},
		"protobuf no graph": {[]byte{0x08, 0x07}, FeatureOutputs}, // ir_version 7 only
	} {
		if _, err := Prune(c.model, c.outputs...); !errors.Is(err, ErrPrune) {
			t.Errorf("%s: %v, want ErrPrune", name, err)
		}
	}
}

// BenchmarkBackbone compares one 224 px image through the whole backbone
// (embedding only, the bare backbone of `bench anomaly`) with the backbone
// pruned to the feature maps.
func BenchmarkBackbone(b *testing.B) {
	setup(b)
	fullB, prunedB, _ := writePruned(b)
	x := make([]float32, 3*embed.Size*embed.Size)
	for _, c := range []struct {
		name string
		b    embed.Backbone
		want embed.Features
	}{{"full-embedding", fullB, 0}, {"pruned-s8-s16", prunedB, embed.FeatS8 | embed.FeatS16}} {
		b.Run(c.name, func(b *testing.B) {
			r, err := OpenBackbone(c.b, Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			for b.Loop() {
				if _, err := r.Run(context.Background(), x, 1, c.want); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
