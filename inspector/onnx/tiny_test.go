package onnx

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/pruefplatz/pruefplatz/inspector"
)

//go:generate go test -run TestTinyModelFile . -args -update

var update = flag.Bool("update", false, "rewrite testdata/tiny.onnx")

const tinyModel = "testdata/tiny.onnx"

// tinySpec is the tiny model's input: one grey channel, 2 rows of 4 pixels.
var tinySpec = inspector.InputSpec{Width: 4, Height: 2, Channels: 1, Resize: inspector.ResizeStretch,
	Mean: []float32{0}, Std: []float32{1}}

// tinyWeight is W[i][j] of logits = flatten(x)·W + b: multiples of 1/4, so
// the expected outputs below are exact in float32.
func tinyWeight(i, j int) float32 { return float32((3*i+j)%5-2) / 4 }

var tinyBias = []float32{0.5, -1, 0.25}

// tinyModelBytes hand-encodes an ONNX ModelProto (field numbers from onnx.proto):
// input [1,1,2,4] → Flatten → MatMul W[8,3] → Add b[3] → logits [1,3].
// Encoding it here keeps the fixture reproducible without Python.
func tinyModelBytes() []byte {
	type msg = []byte
	str := func(b msg, num protowire.Number, s string) msg {
		return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
	}
	sub := func(b msg, num protowire.Number, m msg) msg {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), m)
	}
	varint := func(b msg, num protowire.Number, v uint64) msg {
		return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
	}
	const float32Type = 1 // TensorProto.DataType.FLOAT
	valueInfo := func(name string, dims ...int64) msg {
		var shape msg
		for _, d := range dims {
			shape = sub(shape, 1, varint(nil, 1, uint64(d))) // TensorShapeProto.dim{dim_value}
		}
		tensorType := sub(varint(nil, 1, float32Type), 2, shape)  // TypeProto.Tensor{elem_type, shape}
		return sub(str(nil, 1, name), 2, sub(nil, 1, tensorType)) // ValueInfoProto{name, type{tensor_type}}
	}
	tensor := func(name string, dims []int64, vals []float32) msg {
		var t msg
		for _, d := range dims {
			t = varint(t, 1, uint64(d))
		}
		t = varint(t, 2, float32Type)
		var packed msg
		for _, v := range vals {
			packed = protowire.AppendFixed32(packed, math.Float32bits(v))
		}
		t = sub(t, 4, packed) // float_data, packed
		return str(t, 8, name)
	}
	node := func(op string, out string, in ...string) msg {
		var n msg
		for _, i := range in {
			n = str(n, 1, i)
		}
		n = str(n, 2, out)
		n = str(n, 3, op+"_"+out)
		return str(n, 4, op)
	}
	var w []float32
	for i := 0; i < 8; i++ {
		for j := 0; j < 3; j++ {
			w = append(w, tinyWeight(i, j))
		}
	}
	var g msg
	g = sub(g, 1, node("Flatten", "flat", "pixels"))
	g = sub(g, 1, node("MatMul", "mm", "flat", "weight"))
	g = sub(g, 1, node("Add", "logits", "mm", "bias"))
	g = str(g, 2, "tiny")
	g = sub(g, 5, tensor("weight", []int64{8, 3}, w))
	g = sub(g, 5, tensor("bias", []int64{3}, tinyBias))
	g = sub(g, 11, valueInfo("pixels", 1, 1, 2, 4))
	g = sub(g, 12, valueInfo("logits", 1, 3))

	var m msg
	m = varint(m, 1, 8) // ir_version
	m = str(m, 2, "pruefplatz inspector/onnx tiny_test.go")
	m = sub(m, 7, g)
	m = sub(m, 8, varint(str(nil, 1, ""), 2, 13)) // opset_import{domain "", version 13}
	return m
}

// TestTinyModelFile checks that the committed fixture is what the encoder
// writes (go generate rewrites it).
func TestTinyModelFile(t *testing.T) {
	want := tinyModelBytes()
	if *update {
		if err := os.WriteFile(tinyModel, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(tinyModel)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from tinyModelBytes(); run go generate ./inspector/onnx", tinyModel)
	}
}

func TestTinyModelOutput(t *testing.T) {
	setup(t)
	info, err := Inspect(tinyModel)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Inputs) != 1 || info.Inputs[0].Name != "pixels" || len(info.Outputs) != 1 || info.Outputs[0].Name != "logits" {
		t.Fatalf("Inspect = %+v", info)
	}
	s, err := Open(tinyModel, tinySpec, 3, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// x = i/8 in NCHW order. By hand, with W from tinyWeight:
	// logit0 = .125·.25 − .25·.25 + .375·.5 − .625·.5 + .75·.25 − .875·.25 + .5 = 0.3125
	// logit1 = .125·.5 − .375·.5 + .5·.25 − .625·.25 + .75·.5 − 1 = −0.78125
	// logit2 = −.125·.5 + .25·.25 − .375·.25 + .5·.5 − .75·.5 + .875·.25 + .25 = 0.25
	in := []float32{0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875}
	want := []float32{0.3125, -0.78125, 0.25}
	got, err := s.Classify(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for j := range want {
		if len(got) != len(want) || math.Abs(float64(got[j]-want[j])) > 1e-6 {
			t.Fatalf("Classify = %v, want %v (±1e-6)", got, want)
		}
	}
	// The result is a fresh slice: a caller keeping it must not see the next frame.
	got[0] = 99
	again, err := s.Classify(context.Background(), make([]float32, 8))
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 99 || again[0] != tinyBias[0] || again[1] != tinyBias[1] || again[2] != tinyBias[2] {
		t.Fatalf("zero input gave %v, want the bias %v; earlier result now %v", again, tinyBias, got)
	}
}

func TestTinyModelShapeMismatch(t *testing.T) {
	setup(t)
	swapped := tinySpec
	swapped.Width, swapped.Height = 2, 4 // same pixel count, wrong layout
	rgb := tinySpec
	rgb.Channels, rgb.Mean, rgb.Std = 3, []float32{0, 0, 0}, []float32{1, 1, 1}
	cases := []struct {
		name    string
		spec    inspector.InputSpec
		classes int
	}{
		{"width and height swapped", swapped, 3},
		{"three channels", rgb, 3},
		{"more labels than outputs", tinySpec, 4},
		{"fewer labels than outputs", tinySpec, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(tinyModel, c.spec, c.classes, Options{})
			if !errors.Is(err, inspector.ErrModelShape) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("Open = %v, want an error wrapping ErrModelShape", err)
			}
		})
	}
}

func TestTinyModelCorrupt(t *testing.T) {
	setup(t)
	good := tinyModelBytes()
	dir := t.TempDir()
	flipped := append([]byte(nil), good...)
	flipped[0] = 0xff // an invalid tag where ir_version starts
	for name, b := range map[string][]byte{
		"empty":     {},
		"truncated": good[:len(good)/2],
		"garbage":   []byte("PK\x03\x04 a zip file, not a model"),
		"bad tag":   flipped,
	} {
		p := filepath.Join(dir, name+".onnx")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Inspect(p); err == nil {
			t.Errorf("%s: Inspect accepted it", name)
		}
		if s, err := Open(p, tinySpec, 3, Options{}); err == nil {
			s.Close()
			t.Errorf("%s: Open accepted it", name)
		}
	}
}
