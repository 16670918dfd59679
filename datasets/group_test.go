package datasets

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// capturedDataset writes class "bolt" from sessions sessions of angles
// frames each plus two other images, class "nut" from one session, and
// class "plain" without sessions.
func capturedDataset(t *testing.T, sessions, angles int) string {
	t.Helper()
	root := t.TempDir()
	for s := range sessions {
		for a := range angles {
			writePNG(t, filepath.Join(root, "bolt", fmt.Sprintf("20261203-1700%02d-00000%d_v%02d_a%03d_00.png", s, s, a, a*30)), uint8(s*10+a))
		}
	}
	writePNG(t, filepath.Join(root, "bolt", "old1.png"), 200)
	writePNG(t, filepath.Join(root, "bolt", "old2.png"), 201)
	for a := range angles {
		writePNG(t, filepath.Join(root, "nut", fmt.Sprintf("20261203-180000-abcdef_v%02d_a%03d_00.png", a, a*30)), uint8(a))
	}
	for i := range 20 {
		writePNG(t, filepath.Join(root, "plain", fmt.Sprintf("%04d.png", i)), uint8(i))
	}
	return root
}

func TestSplitKeepsSessionsTogether(t *testing.T) {
	root := capturedDataset(t, 6, 12)
	d, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(5) {
		sp := d.Split(seed, 0.15, 0.15)
		where := map[string]string{}
		for name, part := range map[string][]Sample{"train": sp.Train, "val": sp.Val, "test": sp.Test} {
			for _, s := range part {
				if s.Group == "" || s.Class != "bolt" {
					continue
				}
				if w, ok := where[s.Group]; ok && w != name {
					t.Fatalf("seed %d: session %s in %s and %s", seed, s.Group, w, name)
				}
				where[s.Group] = name
			}
		}
		n := map[string]int{}
		for _, w := range where {
			n[w]++
		}
		if n["test"] < 1 || n["val"] < 1 || n["train"] < 1 {
			t.Fatalf("seed %d: sessions per part %v", seed, n)
		}
		if got := len(sp.Train) + len(sp.Val) + len(sp.Test); got != len(d.Samples) {
			t.Fatalf("split holds %d of %d", got, len(d.Samples))
		}
	}
	// A class without sessions is split as a dataset without any.
	plain := makeDataset(t, map[string]int{})
	for i := range 20 {
		writePNG(t, filepath.Join(plain, "plain", fmt.Sprintf("%04d.png", i)), uint8(i))
	}
	writePNG(t, filepath.Join(plain, "other", "x.png"), 1)
	pd, err := Load(plain)
	if err != nil {
		t.Fatal(err)
	}
	mixed, only := d.Split(3, 0.15, 0.15), pd.Split(3, 0.15, 0.15)
	if a, b := classPaths(mixed.Test, "plain"), classPaths(only.Test, "plain"); a != b || a == "" {
		t.Fatalf("plain class test split differs: %q vs %q", a, b)
	}
}

func classPaths(ss []Sample, class string) string {
	var out []string
	for _, s := range ss {
		if s.Class == class {
			out = append(out, filepath.Base(s.Path))
		}
	}
	return strings.Join(out, ",")
}

func TestInspect(t *testing.T) {
	root := capturedDataset(t, 4, 12)
	in, err := Inspect(root)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ClassSummary{
		"bolt":  {Class: "bolt", Images: 50, Sessions: 4, Angles: 12, Other: 2},
		"nut":   {Class: "nut", Images: 12, Sessions: 1, Angles: 12},
		"plain": {Class: "plain", Images: 20, Other: 20},
	}
	for _, c := range in.Classes {
		if c != want[c.Class] {
			t.Errorf("%s: %+v, want %+v", c.Class, c, want[c.Class])
		}
	}
	if len(in.Warnings) != 1 || !strings.Contains(in.Warnings[0], "class nut: all 12 images come from one capture session") {
		t.Fatalf("warnings %q", in.Warnings)
	}
	if _, err := Inspect(filepath.Join(root, "missing")); err == nil {
		t.Fatal("a missing folder inspected without error")
	}
}

// The manifest names each captured image's session, so a model's
// documentation can say where its images came from; other images carry none.
func TestManifestRecordsSessions(t *testing.T) {
	root := capturedDataset(t, 3, 4) // bolt and nut captured, plain and bolt/old*.png from folders
	d, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	m, err := BuildManifest(d, d.Split(1, 0.15, 0.15), 1)
	if err != nil {
		t.Fatal(err)
	}
	sessions := map[string]bool{}
	for _, f := range m.Files {
		switch {
		case f.Class == "plain" || strings.HasPrefix(filepath.Base(f.Path), "old"):
			if f.Session != "" {
				t.Errorf("%s: session %q for an image from a folder", f.Path, f.Session)
			}
		case f.Session == "":
			t.Errorf("%s: no session", f.Path)
		default:
			sessions[f.Session] = true
		}
	}
	if len(sessions) != 4 { // three of bolt, one of nut
		t.Errorf("sessions in the manifest: %v", sessions)
	}
}
