package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/capture/capturetest"
)

// TestDiskFullOnARealFilesystem runs a session into a tmpfs that holds only
// a few frames: the kernel, not a fake writer, says the disk is full. The
// session stops, says so, and keeps every frame it wrote whole. Mounting
// needs CAP_SYS_ADMIN; without it TestDiskFullStopsAndKeeps covers the same
// path with a writer that fails like a full disk.
func TestDiskFullOnARealFilesystem(t *testing.T) {
	dir := t.TempDir()
	frame := len(capturetest.Table(0, false, 0, 1, 1))
	size := (4*frame + 4*3000 + 4095) / 4096 * 4096
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a %d-byte tmpfs here (%v): the fake full disk of TestDiskFullStopsAndKeeps covers this path", size, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	st := &Store{Root: filepath.Join(dir, "captured")}
	if err := os.MkdirAll(st.Root, 0o755); err != nil {
		t.Fatal(err)
	}
	rig := &fakeRig{}
	r := &Runner{Store: st, Rig: rig, Camera: &rigCamera{rig: rig}}
	s := newSession(t, Spec{Angles: 12})
	err := r.Run(context.Background(), s)
	if !errors.Is(err, ErrStopped) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want stopped by ENOSPC", err)
	}
	if !strings.Contains(err.Error(), "all kept") {
		t.Fatalf("the error does not say the frames were kept: %v", err)
	}
	got, lerr := st.Load(s.ID, nil)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if len(got.Frames) == 0 || len(got.Frames) >= 12 {
		t.Fatalf("%d frames kept on a %d-byte disk", len(got.Frames), size)
	}
	checkSession(t, st, got)
	t.Logf("%d of 12 frames kept on a %d-byte disk: %v", len(got.Frames), size, err)
}
