package onnxwire

import (
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// A tensor written here reads back field by field, as ONNX Runtime reads it.
func TestFloatTensorRoundTrip(t *testing.T) {
	b := FloatTensor("w", []int64{2, 3}, []float32{1, -2, 3.5, 0, 1e-3, 7})
	var dims []int64
	var dtype uint64
	var raw []byte
	err := EachField(b, func(num protowire.Number, typ protowire.Type, rawField, val []byte) {
		switch num {
		case tensorDims:
			v, _ := protowire.ConsumeVarint(rawField[1:])
			dims = append(dims, int64(v))
		case tensorDataType:
			dtype, _ = protowire.ConsumeVarint(rawField[1:])
		case tensorRawData:
			raw = val
		}
	})
	if err != nil || len(dims) != 2 || dims[0] != 2 || dims[1] != 3 || dtype != Float || String(b, tensorName) != "w" {
		t.Fatalf("dims %v type %d name %q err %v", dims, dtype, String(b, tensorName), err)
	}
	if len(raw) != 24 {
		t.Fatalf("raw_data %d bytes", len(raw))
	}
	if v, _ := protowire.ConsumeFixed32(raw[8:]); math.Float32frombits(v) != 3.5 {
		t.Errorf("third value %v", math.Float32frombits(v))
	}
	if err := EachField([]byte{0xff}, func(protowire.Number, protowire.Type, []byte, []byte) {}); err == nil {
		t.Error("a broken message parsed")
	}
}
