package capture

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/pruefplatz/pruefplatz/internal/atomicfile"
)

// table draws a pure-Go scene: a grey table with noise and, unless empty,
// an L-shaped part (no rotational symmetry) turned by angle degrees, with
// blur pixels of box blur and the brightness scaled by gain.
func table(angle float64, empty bool, blur int, gain float64, seed uint64) []byte {
	const w, h = 320, 240
	rng := rand.New(rand.NewPCG(seed, 7))
	g := image.NewGray(image.Rect(0, 0, w, h))
	sin, cos := math.Sincos(angle * math.Pi / 180)
	for y := range h {
		for x := range w {
			v := 110.0 + 6*rng.NormFloat64()
			if !empty {
				dx, dy := float64(x-w/2), float64(y-h/2)
				u, q := cos*dx+sin*dy, -sin*dx+cos*dy
				// The L: a long arm and a short arm, with a hole pattern.
				if (u > -60 && u < 60 && q > -12 && q < 12) || (u > 36 && u < 60 && q > -60 && q < 12) {
					v = 200 + 20*math.Sin(u/3)
					if math.Hypot(u+30, q) < 6 || math.Hypot(u-48, q+40) < 6 {
						v = 40
					}
				}
			}
			g.Pix[y*w+x] = uint8(math.Max(0, math.Min(255, v*gain)))
		}
	}
	for range blur {
		boxBlur(g)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, g, &jpeg.Options{Quality: 92}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func boxBlur(g *image.Gray) {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	src := append([]uint8(nil), g.Pix...)
	for y := 1; y < h-1; y++ {
		for x := 1; x < w-1; x++ {
			s := 0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					s += int(src[(y+dy)*w+x+dx])
				}
			}
			g.Pix[y*w+x] = uint8(s / 9)
		}
	}
}

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
	return table(a, false, c.blur, 1, uint64(c.shots)), nil
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
