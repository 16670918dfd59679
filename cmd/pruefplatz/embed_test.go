package main

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/onnx/onnxtest"
)

// TestEmbedWritesNPY embeds the backbone's four check photos (one class
// per photo): the .npy holds four unit vectors of 1280 and the index names
// each file.
func TestEmbedWritesNPY(t *testing.T) {
	onnxtest.FindLibrary(t)
	data := t.TempDir()
	for _, f := range []string{"cat.jpg", "bird.jpg", "dragonfly.jpg", "hot_dog.jpg"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "models", "backbones", "mobilenet-v2", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		class := strings.TrimSuffix(f, ".jpg")
		if err := os.MkdirAll(filepath.Join(data, class), 0o755); err != nil {
			t.Fatal(err)
		}
		mustWriteFile(t, filepath.Join(data, class, f), b)
	}
	mustWriteFile(t, filepath.Join(data, "cat", "cut.jpg"), []byte("\xff\xd8\xff\xe0 cut"))
	out := filepath.Join(t.TempDir(), "v.npy")
	cmd := newEmbedCmd()
	var buf bytes.Buffer
	cmd.SetOut(&buf)
	cmd.SetErr(&buf)
	cmd.SetArgs([]string{"--data", data, "--out", out, "--models", filepath.Join("..", "..", "models"), "--threads", "1"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	hl := int(binary.LittleEndian.Uint16(b[8:10]))
	if string(b[:6]) != "\x93NUMPY" || (10+hl)%64 != 0 || !strings.Contains(string(b[10:10+hl]), "'shape': (4, 1280)") {
		t.Fatalf("npy header %q", b[:10+hl])
	}
	vals := b[10+hl:]
	if len(vals) != 4*1280*4 {
		t.Fatalf("%d bytes of data, want %d", len(vals), 4*1280*4)
	}
	for i := 0; i < 4; i++ {
		var s float64
		for j := 0; j < 1280; j++ {
			x := math.Float32frombits(binary.LittleEndian.Uint32(vals[4*(i*1280+j):]))
			s += float64(x) * float64(x)
		}
		if math.Abs(s-1) > 1e-4 {
			t.Errorf("vector %d: squared norm %.5f", i, s)
		}
	}
	idx, err := os.ReadFile(strings.TrimSuffix(out, ".npy") + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(idx)), "\n"); len(lines) != 5 || !strings.Contains(string(idx), "hot_dog.jpg") {
		t.Errorf("index:\n%s", idx)
	}
	if !strings.Contains(buf.String(), "cut.jpg") {
		t.Errorf("the unreadable file is not named:\n%s", buf.String())
	}
}
