// Package onnxwire reads and writes the few parts of ONNX's protobuf that
// the project edits at the wire level (grafting a head, pruning a backbone,
// building a small graph), so fields it does not touch pass through byte
// for byte and no generated ONNX protobuf package is needed.
package onnxwire

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// EachField calls fn for every top-level field of a protobuf message with
// its raw bytes (tag included) and, for length-delimited fields, its value.
func EachField(msg []byte, fn func(num protowire.Number, typ protowire.Type, raw, val []byte)) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[n:])
		if m < 0 {
			return protowire.ParseError(m)
		}
		var val []byte
		if typ == protowire.BytesType {
			val, _ = protowire.ConsumeBytes(msg[n:])
		}
		fn(num, typ, msg[:n+m], val)
		msg = msg[n+m:]
	}
	return nil
}

// String returns the last string field num of a message (a name), "" if none.
func String(msg []byte, num protowire.Number) string {
	s := ""
	_ = EachField(msg, func(n protowire.Number, typ protowire.Type, _, v []byte) {
		if n == num && typ == protowire.BytesType {
			s = string(v)
		}
	})
	return s
}

// AppendString appends string field num.
func AppendString(b []byte, num protowire.Number, s string) []byte {
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

// AppendMessage appends the encoded message m as field num.
func AppendMessage(b []byte, num protowire.Number, m []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), m)
}

// ONNX TensorProto fields and the FLOAT element type.
const (
	tensorDims     = 1
	tensorDataType = 2
	tensorName     = 8
	tensorRawData  = 9
	Float          = 1
)

// FloatTensor encodes a float32 TensorProto with its values as little-endian
// raw_data.
func FloatTensor(name string, dims []int64, vals []float32) []byte {
	var t []byte
	for _, d := range dims {
		t = protowire.AppendTag(t, tensorDims, protowire.VarintType)
		t = protowire.AppendVarint(t, uint64(d))
	}
	t = protowire.AppendTag(t, tensorDataType, protowire.VarintType)
	t = protowire.AppendVarint(t, Float)
	t = AppendString(t, tensorName, name)
	raw := make([]byte, 0, 4*len(vals))
	for _, v := range vals {
		raw = protowire.AppendFixed32(raw, math.Float32bits(v))
	}
	return AppendMessage(t, tensorRawData, raw)
}
