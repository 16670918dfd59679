//go:build matprofile

package station

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
)

// TestNoMatLeaks runs the station through reconnects, live view, triggers,
// uploads (good and bad) and a model swap, and checks that every Mat is
// freed after Close.
func TestNoMatLeaks(t *testing.T) {
	before := gocv.MatProfile.Count()
	n := 0
	open := func() (FrameSource, error) {
		n++
		if n%3 == 0 {
			return nil, errors.New("no such device")
		}
		return &synthSource{failAfter: 4}, nil
	}
	loader := func(_ context.Context, name, version string) (*Model, error) {
		return &Model{Card: fakeCard(name, version), Classifier: &constClassifier{n: 5}}, nil
	}
	store := &memStore{}
	st := New(Config{Trigger: inspector.TriggerContinuous, StableFrames: 1, PresenceShare: 0.0001,
		Backoff: time.Millisecond, ROI: &inspector.Rect{X: 2, Y: 2, W: 40, H: 30}, ImageMaxSide: 32, Logger: quietLog()},
		"synth", open, &Model{Card: fakeCard("fake", "v1"), Classifier: &constClassifier{n: 5}}, loader, store)
	st.Start(context.Background())
	waitFor(t, "reconnects", 10*time.Second, func() bool { return n >= 9 })
	for i := 0; i < 5; i++ {
		st.LatestJPEG()
		if _, err := st.Trigger(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ClassifyImage(context.Background(), jpegOf(t, 80, 60), true); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ClassifyImage(context.Background(), []byte("junk"), true); err == nil {
			t.Fatal("junk classified")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := st.ActivateModel(context.Background(), "next", "v2"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClassifyImage(context.Background(), jpegOf(t, 80, 60), false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	st.Close()
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("%d Mats leaked", after-before)
		gocv.MatProfile.WriteTo(os.Stderr, 1)
	}
}
