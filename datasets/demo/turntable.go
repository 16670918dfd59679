package demo

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// Turntable is a simulated capture rig: a turntable under the demo webcam
// with one demo spare part on it. It implements capture.Rig (it turns) and
// capture.Camera (it photographs the part at the angle it stands at), so a
// whole turntable session runs with no hardware.
//
// One Turntable is one physical part on the one simulated rig: the part's
// shape, size, metal and where it lies off the turntable's axis come from
// (seed, class, part); the mat, lamp and camera from seed alone. Each frame
// has fresh sensor noise.
// A part never lies exactly on the axis, so turning moves it on a small
// circle, as on a real turntable.
type Turntable struct {
	class string
	part  int
	seed  uint64
	// MoveTime is how long a simulated turn takes (0: instant).
	MoveTime time.Duration

	mu     sync.Mutex
	angle  float64
	shots  int
	pd     partDef
	scale  float64
	mt     metal
	sc     *scene
	offR   float64
	offPhi float64
}

// NewTurntable puts part number part of a class of PartClasses on a
// simulated turntable. It returns an error for an unknown class.
func NewTurntable(seed uint64, class string, part int) (*Turntable, error) {
	if !contains(PartClasses, class) {
		return nil, fmt.Errorf("demo: unknown part class %q (want one of %v)", class, PartClasses)
	}
	rng := rngFor(seed, "turntable", class, strconv.Itoa(part))
	pd, err := sparePart(class, rng)
	if err != nil {
		return nil, err
	}
	t := &Turntable{class: class, part: part, seed: seed, pd: pd}
	t.scale = 1.45 * (1 + 0.3*rng.Float64())
	t.mt = metals[rng.IntN(len(metals))]
	t.offR = 30 + 20*rng.Float64()
	t.offPhi = rng.Float64() * 2 * math.Pi
	// The turntable's mat, lamp and camera belong to the rig, not to the
	// part: every session on one rig shows the same scene, so a model
	// cannot tell the classes apart by their backgrounds.
	t.sc = newScene(rngFor(seed, "turntable-rig"), sceneFeed)
	// A rig's camera is focused once for the turntable, unlike a webcam
	// pointed at the table by hand.
	t.sc.blur = 0.6
	return t, nil
}

// Name is "sim".
func (t *Turntable) Name() string { return "sim" }

// Ready always succeeds: the simulation is always there.
func (t *Turntable) Ready(ctx context.Context) error { return ctx.Err() }

// MoveTo turns to angle degrees, taking MoveTime.
func (t *Turntable) MoveTo(ctx context.Context, angle float64) error {
	if t.MoveTime > 0 {
		tm := time.NewTimer(t.MoveTime)
		defer tm.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tm.C:
		}
	}
	t.mu.Lock()
	t.angle = angle
	t.mu.Unlock()
	return nil
}

// Settle returns at once: a simulated part does not wobble.
func (t *Turntable) Settle(ctx context.Context) error { return ctx.Err() }

// Angle is where the turntable stands.
func (t *Turntable) Angle() float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.angle
}

// Grab photographs the part at the current angle as JPEG.
func (t *Turntable) Grab(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t.mu.Lock()
	a := t.angle
	t.shots++
	shot := t.shots
	t.mu.Unlock()
	return t.render(a, shot, false)
}

// Empty photographs the empty turntable (the presence gate's background).
func (t *Turntable) Empty() ([]byte, error) { return t.render(0, 0, true) }

func (t *Turntable) render(angle float64, shot int, empty bool) ([]byte, error) {
	rad := angle * math.Pi / 180
	frame := make([]float32, Width*Height*3)
	if empty {
		t.sc.compose(frame, nil, 0, 0, nil, nil)
	} else {
		// The shading's smudges belong to the part: the same for every shot.
		srng := rngFor(t.seed, "turntable-shade", t.class, strconv.Itoa(t.part))
		sp := makeSprite(t.pd, t.scale, t.offPhi+rad)
		pl := t.sc.prepare(srng, sp, t.mt)
		cx := Width/2 + t.offR*math.Cos(t.offPhi+rad)
		cy := Height/2 + t.offR*math.Sin(t.offPhi+rad)
		t.sc.compose(frame, &pl, int(cx)-sp.S/2, int(cy)-sp.S/2, nil, nil)
	}
	rng := rngFor(t.seed, "turntable-shot", t.class, strconv.Itoa(t.part), strconv.Itoa(shot))
	m := t.sc.camera(rng, frame, make([]byte, Width*Height*3))
	defer m.Close()
	return encodeJPEG(m, 90)
}
