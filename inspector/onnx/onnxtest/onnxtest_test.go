package onnxtest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFindWalksUp(t *testing.T) {
	root := t.TempDir()
	lib := filepath.Join(root, LibraryRel)
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Find(deep); !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("Find without a library = %v, want ErrNoLibrary", err)
	}
	if err := os.MkdirAll(filepath.Dir(lib), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Find(deep)
	if err != nil || got != lib {
		t.Fatalf("Find = %q, %v, want %q", got, err, lib)
	}
}

func TestInitFromPackageFolder(t *testing.T) {
	if p := Init(t); filepath.Base(p) != "libonnxruntime.so.1" {
		t.Fatalf("Init found %s", p)
	}
}
