package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteReplacesWithPermissions(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "active.json")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if err != nil || string(b) != "new" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("content %q, mode %v, err %v", b, fi.Mode().Perm(), err)
	}
	assertOnly(t, dir, "active.json")
}

// fullDisk accepts a few bytes, then fails like a full disk.
type fullDisk struct {
	*os.File
	room int
}

func (f *fullDisk) Write(p []byte) (int, error) {
	if len(p) > f.room {
		n, _ := f.File.Write(p[:f.room])
		return n, syscall.ENOSPC
	}
	return f.File.Write(p)
}

func TestFailedWriteLeavesTargetAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(p, []byte("complete old data"), 0o644); err != nil {
		t.Fatal(err)
	}
	create := func(dir, pattern string) (TempFile, error) {
		f, err := os.CreateTemp(dir, pattern)
		return &fullDisk{File: f, room: 3}, err
	}
	err := WriteWith(create, p, []byte("new data that does not fit"), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err %v, want ENOSPC", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "complete old data" {
		t.Errorf("target now %q", b)
	}
	assertOnly(t, dir, "manifest.json")

	if err := Write(filepath.Join(dir, "no-such-folder", "x"), nil, 0o644); err == nil {
		t.Error("write into a missing folder succeeded")
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != len(names) {
		var got []string
		for _, e := range es {
			got = append(got, e.Name())
		}
		t.Fatalf("folder holds %v, want %v", got, names)
	}
}
