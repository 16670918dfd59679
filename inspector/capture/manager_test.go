package capture

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func waitFor(t *testing.T, m *Manager, id string, done func(Progress) bool) Progress {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		p, err := m.Progress(id)
		if err != nil {
			t.Fatal(err)
		}
		if done(p) {
			return p
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("session %s did not get there", id)
	return Progress{}
}

func TestManager(t *testing.T) {
	rig := &fakeRig{}
	m := &Manager{Store: newStore(t), Open: func(ctx context.Context, s *Session) (Setup, error) {
		return Setup{Rig: rig, Camera: &rigCamera{rig: rig}}, nil
	}}
	defer m.Close()
	s, err := m.Start(Spec{Target: Target{Class: "bracket"}, Angles: 4})
	if err != nil {
		t.Fatal(err)
	}
	p := waitFor(t, m, s.ID, func(p Progress) bool { return !p.Running })
	if p.Session.State != Done || len(p.Session.Frames) != 4 || p.Error != "" {
		t.Fatalf("%+v", p)
	}
	// Hand mode: the auto trigger waits for a turned, still part; Press
	// takes the frame at once.
	h, err := m.Start(Spec{Target: Target{Class: "bracket"}, Mode: Hand, Angles: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(Spec{Target: Target{Class: "x"}}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second session: %v", err)
	}
	for i := range 3 {
		waitFor(t, m, h.ID, func(p Progress) bool { return p.Last.Kind == "ask" && p.Last.View == i })
		rig.MoveTo(context.Background(), float64(i*120))
		if err := m.Press(h.ID); err != nil {
			t.Fatal(err)
		}
	}
	p = waitFor(t, m, h.ID, func(p Progress) bool { return !p.Running })
	if p.Session.State != Done || len(p.Session.Frames) != 3 {
		t.Fatalf("hand session: %+v", p)
	}
	if err := m.Press(h.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("press after the end: %v", err)
	}
}

func TestHandTriggerFiresWhenStill(t *testing.T) {
	rig := &fakeRig{}
	s := newSession(t, Spec{Mode: Hand, Angles: 2})
	tr := &HandTrigger{Camera: &rigCamera{rig: rig}, Poll: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Wait(ctx, s, 0); err != nil {
		t.Fatalf("a still part did not fire the trigger: %v", err)
	}
	// After a frame of this view was kept, the same view does not fire it.
	s.Frames = append(s.Frames, Frame{Signature: mustSig(t, rig)})
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if err := tr.Wait(short, s, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unturned part fired the trigger: %v", err)
	}
}

func mustSig(t *testing.T, rig *fakeRig) string {
	cam := &rigCamera{rig: rig}
	b, _ := cam.Grab(context.Background())
	img, err := decodeJPEG(b)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Gates{}.Check(img, nil)
	return m.Signature.String()
}

// By hand, the reason a frame was turned away stays on show until a frame
// of the view is kept, though the next request follows at once.
func TestManagerKeepsRejection(t *testing.T) {
	rig := &fakeRig{}
	m := &Manager{Store: newStore(t), Open: func(ctx context.Context, s *Session) (Setup, error) {
		return Setup{Camera: &rigCamera{rig: rig}}, nil
	}}
	defer m.Close()
	h, err := m.Start(Spec{Target: Target{Class: "bracket"}, Mode: Hand, Angles: 2})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, m, h.ID, func(p Progress) bool { return p.Last.Kind == "ask" })
	m.Press(h.ID)
	waitFor(t, m, h.ID, func(p Progress) bool { return len(p.Session.Frames) == 1 && p.Last.Kind == "ask" })
	m.Press(h.ID) // not turned: a near duplicate
	p := waitFor(t, m, h.ID, func(p Progress) bool { return len(p.Session.Rejected) == 1 && p.Last.Kind == "ask" })
	if !strings.Contains(p.Rejected, "near duplicate") {
		t.Fatalf("rejection not kept: %+v", p)
	}
	rig.MoveTo(context.Background(), 90)
	m.Press(h.ID)
	p = waitFor(t, m, h.ID, func(p Progress) bool { return !p.Running })
	if p.Session.State != Done || p.Rejected != "" {
		t.Fatalf("%+v", p)
	}
}
