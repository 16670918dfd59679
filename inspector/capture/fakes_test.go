package capture

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/capture/capturetest"
	"github.com/pruefplatz/pruefplatz/internal/atomicfile"
)

// fakeRig is a turntable whose moves can be made to fail.
type fakeRig struct {
	mu    sync.Mutex
	angle float64
	moves int
	fail  func(move int) error // nil: every move works
}

func (r *fakeRig) Name() string                    { return "fake" }
func (r *fakeRig) Ready(ctx context.Context) error { return nil }
func (r *fakeRig) MoveTo(ctx context.Context, a float64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.moves++
	if r.fail != nil {
		if err := r.fail(r.moves); err != nil {
			return err
		}
	}
	r.angle = a
	return nil
}
func (r *fakeRig) Settle(ctx context.Context) error { return nil }

// rigCamera photographs the fake rig's part at its angle.
type rigCamera struct {
	rig   *fakeRig
	shots int
	lost  func(shot int) bool
	blur  int
}

func (c *rigCamera) Grab(ctx context.Context) ([]byte, error) {
	c.shots++
	if c.lost != nil && c.lost(c.shots) {
		return nil, fmt.Errorf("%w: /dev/video0 gave no frame", ErrCameraLost)
	}
	c.rig.mu.Lock()
	a := c.rig.angle
	c.rig.mu.Unlock()
	return capturetest.Table(a, false, c.blur, 1, uint64(c.shots)), nil
}

// budgetCreate makes temporary files that fail with ENOSPC, as a full disk
// does, once budget bytes have been written through it in total.
type budgetCreate struct {
	mu     sync.Mutex
	budget int
}

type budgetFile struct {
	atomicfile.TempFile
	c *budgetCreate
}

func (b *budgetCreate) create(dir, pattern string) (atomicfile.TempFile, error) {
	f, err := atomicfile.OSCreate(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &budgetFile{TempFile: f, c: b}, nil
}

func (f *budgetFile) Write(p []byte) (int, error) {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if len(p) > f.c.budget {
		n, _ := f.TempFile.Write(p[:f.c.budget])
		f.c.budget = 0
		return n, &writeErr{syscall.ENOSPC}
	}
	f.c.budget -= len(p)
	return f.TempFile.Write(p)
}

type writeErr struct{ errno syscall.Errno }

func (e *writeErr) Error() string { return "write: " + e.errno.Error() }
func (e *writeErr) Unwrap() error { return e.errno }

func newStore(t *testing.T) *Store {
	t.Helper()
	return &Store{Root: t.TempDir()}
}
