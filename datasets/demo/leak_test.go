//go:build matprofile

package demo

import (
	"context"
	"testing"

	"gocv.io/x/gocv"
)

// TestNoMatLeaks renders images of every class, a feed, a contact sheet and
// simulated turntable frames, and checks that gocv's Mat profile returns to
// where it started.
func TestNoMatLeaks(t *testing.T) {
	out := t.TempDir()
	before := gocv.MatProfile.Count()
	for _, c := range PartClasses {
		if _, err := Image(2, SetParts, c, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range DefectClasses {
		r, err := renderImage(2, SetDefects, c, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		r.m.Close()
	}
	if err := Generate(context.Background(), Options{Seed: 2, PerClass: 1, FeedParts: 1, Out: out}); err != nil {
		t.Fatal(err)
	}
	if err := ContactSheet(out+"/"+SetDefects, out+"/sheet.png", 2, 64); err != nil {
		t.Fatal(err)
	}
	tt, err := NewTurntable(2, "washer", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tt.Grab(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := tt.Empty(); err != nil {
		t.Fatal(err)
	}
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mat profile went from %d to %d: a Mat was not closed", before, after)
	}
}
