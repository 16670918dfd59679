package models

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func ptr(s string) *string { return &s }

func TestEditDocKeepsHistoryAndFiles(t *testing.T) {
	r := Registry{Root: t.TempDir()}
	c := publish(t, r, "parts", "v1", "weights")
	ref := c.Ref()
	t1 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	t2 := t1.Add(48 * time.Hour)

	if _, err := r.EditDoc("parts", "v1", DocEdit{IntendedUse: ptr("Sort flanges at station 3."), RiskCategory: ptr("minimal"),
		RiskReason: ptr("a human reviews every NOK")}, "anna", t1); err != nil {
		t.Fatal(err)
	}
	got, err := r.EditDoc("parts", "v1", DocEdit{IntendedUse: ptr("Sort flanges at stations 3 and 4."), Limitations: ptr("Not for cast parts.")}, "ben", t2)
	if err != nil {
		t.Fatal(err)
	}
	// Reading back from disk: the edit is on the card, the earlier text in its history.
	c2, err := r.Get("parts", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if c2.IntendedUse != "Sort flanges at stations 3 and 4." || c2.Limitations != "Not for cast parts." || c2.RiskCategory != "minimal" || got.Doc != c2.Doc {
		t.Errorf("doc = %+v", c2.Doc)
	}
	if len(c2.DocHistory) != 2 || c2.DocHistory[0].IntendedUse != "Sort flanges at station 3." || c2.DocHistory[0].By != "anna" ||
		!c2.DocHistory[0].At.Equal(t1) || c2.DocHistory[1].By != "ben" || c2.DocHistory[1].Doc != c2.Doc {
		t.Errorf("history = %+v", c2.DocHistory)
	}
	if err := r.Verify(c2); err != nil {
		t.Errorf("verify after edit: %v", err)
	}
	if c2.Ref() != ref {
		t.Errorf("model reference changed by an edit: %+v → %+v", ref, c2.Ref())
	}
	// The same text again records nothing.
	if _, err := r.EditDoc("parts", "v1", DocEdit{Limitations: ptr("Not for cast parts.")}, "carl", t2.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c3, _ := r.Get("parts", "v1"); len(c3.DocHistory) != 2 {
		t.Errorf("an edit without change was recorded: %d revisions", len(c3.DocHistory))
	}
}

func TestEditDocRefusesAndLeavesCard(t *testing.T) {
	r := Registry{Root: t.TempDir()}
	publish(t, r, "parts", "v1", "weights")
	cardPath := filepath.Join(r.Dir("parts", "v1"), CardFile)
	before, err := os.ReadFile(cardPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit DocEdit
		want error
	}{
		{"unknown category", DocEdit{RiskCategory: ptr("medium"), RiskReason: ptr("x")}, ErrBadDoc},
		{"category without reason", DocEdit{RiskCategory: ptr("high")}, ErrBadDoc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := r.EditDoc("parts", "v1", tc.edit, "anna", time.Now()); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := r.EditDoc("parts", "v9", DocEdit{IntendedUse: ptr("x")}, "anna", time.Now()); !errors.Is(err, ErrNoModel) {
		t.Errorf("unknown version: %v, want ErrNoModel", err)
	}
	// A tampered model file: the edit must not bless it.
	if err := os.WriteFile(filepath.Join(r.Dir("parts", "v1"), ModelFile), []byte("other weights"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.EditDoc("parts", "v1", DocEdit{IntendedUse: ptr("x")}, "anna", time.Now()); !errors.Is(err, ErrTampered) {
		t.Errorf("tampered model: %v, want ErrTampered", err)
	}
	after, err := os.ReadFile(cardPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Error("a refused edit changed card.json")
	}
}

func TestSetDocKeepsHandWrittenText(t *testing.T) {
	c := testCard("parts", "v1")
	c.IntendedUse = "written by hand"
	if _, err := c.SetDoc(Doc{IntendedUse: "new"}, "anna", time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(c.DocHistory) != 2 || c.DocHistory[0].IntendedUse != "written by hand" || !c.DocHistory[0].At.Equal(c.Created) {
		t.Errorf("history = %+v", c.DocHistory)
	}
}
