// Package onnxtest helps tests of packages that run ONNX models: it finds
// the ONNX Runtime library that make setup puts in the repository's .deps
// folder and initialises inspector/onnx with it.
package onnxtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/onnx"
)

// LibraryRel is where make setup installs ONNX Runtime, relative to the repository root.
const LibraryRel = ".deps/onnxruntime/libonnxruntime.so.1"

// ErrNoLibrary is returned by Find when no directory above the start holds LibraryRel.
var ErrNoLibrary = errors.New("onnxtest: ONNX Runtime library not found (run make setup)")

// Find walks up from dir to the first directory holding LibraryRel and
// returns the library's absolute path, or an error wrapping ErrNoLibrary.
func Find(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, LibraryRel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no %s above the test's folder", ErrNoLibrary, LibraryRel)
		}
		dir = parent
	}
}

// FindLibrary returns the library's path, searching upwards from the test's
// working directory (its package folder). It fails the test, rather than
// skipping it, when the library is missing: a test that needs ONNX Runtime
// and silently does not run proves nothing.
func FindLibrary(t testing.TB) string {
	t.Helper()
	p, err := Find(".")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Init finds the library and initialises inspector/onnx with it (a no-op
// after the first call in the test binary). It fails the test on error.
func Init(t testing.TB) string {
	t.Helper()
	p := FindLibrary(t)
	if err := onnx.Init(p); err != nil {
		t.Fatal(err)
	}
	return p
}
