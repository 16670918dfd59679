package datasets

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePNG writes a small PNG whose content depends on v, so files differ.
func writePNG(t *testing.T, path string, v uint8) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 8, 6))
	for i := range img.Pix {
		img.Pix[i] = v + uint8(i)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeDataset creates root/<class>/<i>.png with the given counts.
func makeDataset(t *testing.T, counts map[string]int) string {
	t.Helper()
	root := t.TempDir()
	v := uint8(0)
	for c, n := range counts {
		if n == 0 {
			os.MkdirAll(filepath.Join(root, c), 0o755)
		}
		for i := 0; i < n; i++ {
			v++
			writePNG(t, filepath.Join(root, c, strings.Repeat("a", i%3)+string(rune('a'+i%26))+filepath.Base(t.Name())+"_"+itoa(i)+".png"), v)
		}
	}
	return root
}

func itoa(i int) string {
	return string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

func TestLoadProblems(t *testing.T) {
	root := makeDataset(t, map[string]int{"ok": 6, "scratch": 3, "empty": 0})
	writeFile(t, filepath.Join(root, "ok", "zero.jpg"), nil)
	writeFile(t, filepath.Join(root, "ok", "notes.txt"), []byte("hello"))
	writeFile(t, filepath.Join(root, "ok", "fake.png"), []byte("this is not a png"))
	writeFile(t, filepath.Join(root, "README.md"), []byte("ignored: not in a class folder"))

	ds, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(ds.Classes, ","), "ok,scratch"; got != want {
		t.Errorf("classes = %s, want %s (empty class left out)", got, want)
	}
	counts := ClassCounts(ds.Samples)
	if counts["ok"] != 6 || counts["scratch"] != 3 {
		t.Errorf("counts = %v", counts)
	}
	for _, s := range ds.Samples {
		if s.Label != map[string]int{"ok": 0, "scratch": 1}[s.Class] {
			t.Errorf("%s: label %d", s.Path, s.Label)
		}
		if s.Width != 8 || s.Height != 6 {
			t.Errorf("%s: size %dx%d", s.Path, s.Width, s.Height)
		}
	}
	want := map[string]bool{ // path suffix → warning?
		"ok/zero.jpg": false, "ok/notes.txt": false, "ok/fake.png": false, "empty": false, "scratch": true,
	}
	for suffix, warn := range want {
		found := false
		for _, p := range ds.Problems {
			if strings.HasSuffix(filepath.ToSlash(p.Path), suffix) {
				found = true
				if p.Warning != warn {
					t.Errorf("%s: warning=%v, want %v (%s)", suffix, p.Warning, warn, p.Err)
				}
			}
		}
		if !found {
			t.Errorf("no problem reported for %s; problems: %v", suffix, ds.Problems)
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	cases := []struct {
		name string
		root func(t *testing.T) string
		want error
	}{
		{"missing folder", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, ErrNotDataset},
		{"no class folders", func(t *testing.T) string {
			r := t.TempDir()
			writePNG(t, filepath.Join(r, "a.png"), 1)
			return r
		}, ErrNotDataset},
		{"single class", func(t *testing.T) string { return makeDataset(t, map[string]int{"ok": 5}) }, ErrTooFewClasses},
		{"second class empty", func(t *testing.T) string { return makeDataset(t, map[string]int{"ok": 5, "nok": 0}) }, ErrTooFewClasses},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.root(t))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestLoadVerifyFindsTruncated(t *testing.T) {
	root := makeDataset(t, map[string]int{"a": 5, "b": 5})
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	png.Encode(&buf, img)
	writeFile(t, filepath.Join(root, "a", "trunc.png"), buf.Bytes()[:buf.Len()/2])
	quick, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	full, err := LoadWith(root, Options{Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Samples) != len(quick.Samples)-1 {
		t.Errorf("verify kept %d samples, header check %d; want one fewer", len(full.Samples), len(quick.Samples))
	}
}

func TestSplitStratifiedDeterministic(t *testing.T) {
	root := makeDataset(t, map[string]int{"a": 40, "b": 20, "c": 3})
	ds, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	s1 := ds.Split(7, 0.15, 0.15)
	// Reversed sample order must not change the split.
	rev := *ds
	rev.Samples = append([]Sample(nil), ds.Samples...)
	for i, j := 0, len(rev.Samples)-1; i < j; i, j = i+1, j-1 {
		rev.Samples[i], rev.Samples[j] = rev.Samples[j], rev.Samples[i]
	}
	s2 := rev.Split(7, 0.15, 0.15)
	s3 := ds.Split(8, 0.15, 0.15)
	if paths(s1.Test) != paths(s2.Test) || paths(s1.Val) != paths(s2.Val) {
		t.Error("same seed gave different splits for a different listing order")
	}
	if paths(s1.Test) == paths(s3.Test) {
		t.Error("another seed gave the same test split")
	}
	seen := map[string]string{}
	for name, part := range map[string][]Sample{"train": s1.Train, "val": s1.Val, "test": s1.Test} {
		for _, s := range part {
			if prev, ok := seen[s.Path]; ok {
				t.Errorf("%s in both %s and %s", s.Path, prev, name)
			}
			seen[s.Path] = name
		}
	}
	if len(seen) != len(ds.Samples) {
		t.Errorf("split covers %d of %d samples", len(seen), len(ds.Samples))
	}
	for _, tc := range []struct {
		class          string
		train, val, te int
	}{{"a", 28, 6, 6}, {"b", 14, 3, 3}, {"c", 1, 1, 1}} {
		got := [3]int{ClassCounts(s1.Train)[tc.class], ClassCounts(s1.Val)[tc.class], ClassCounts(s1.Test)[tc.class]}
		if got != [3]int{tc.train, tc.val, tc.te} {
			t.Errorf("class %s: train/val/test = %v, want %d/%d/%d", tc.class, got, tc.train, tc.val, tc.te)
		}
	}
}

func paths(ss []Sample) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(s.Path)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestManifest(t *testing.T) {
	root := makeDataset(t, map[string]int{"a": 6, "b": 6})
	ds, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	sp := ds.Split(1, 0.2, 0.2)
	m, err := BuildManifest(ds, sp, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 12 || m.ClassCounts["a"] != 6 || m.SplitCounts["test"]["b"] == 0 {
		t.Fatalf("manifest: %d files, counts %v, split %v", len(m.Files), m.ClassCounts, m.SplitCounts)
	}
	for _, f := range m.Files {
		if len(f.SHA256) != 64 || filepath.IsAbs(f.Path) {
			t.Errorf("file entry %+v", f)
		}
	}
	// A copy elsewhere hashes the same; changing one file's bytes does not.
	copyRoot := t.TempDir()
	for _, f := range m.Files {
		b, _ := os.ReadFile(filepath.Join(root, f.Path))
		writeFile(t, filepath.Join(copyRoot, f.Path), b)
	}
	ds2, _ := Load(copyRoot)
	m2, err := BuildManifest(ds2, ds2.Split(1, 0.2, 0.2), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.Hash() != m2.Hash() {
		t.Error("the same files in another folder hash differently")
	}
	writePNG(t, filepath.Join(copyRoot, m.Files[0].Path), 200)
	m3, _ := BuildManifest(ds2, ds2.Split(1, 0.2, 0.2), 1)
	if m3.Hash() == m.Hash() {
		t.Error("changed file content did not change the manifest hash")
	}
	out := filepath.Join(t.TempDir(), "manifest.json")
	if err := m.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Contains(b, []byte(m.Files[0].SHA256)) {
		t.Error("written manifest lacks file hashes")
	}
}

// TestLoadFindsCutJPEG: a JPEG cut after 700 bytes (which OpenCV would
// decode with grey fill) is a problem naming the file even with the quick
// header check.
func TestLoadFindsCutJPEG(t *testing.T) {
	root := makeDataset(t, map[string]int{"a": 5, "b": 5})
	img := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "a", "whole.jpg"), buf.Bytes())
	writeFile(t, filepath.Join(root, "a", "cut.jpg"), buf.Bytes()[:700])
	ds, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, p := range ds.Problems {
		found = found || (strings.HasSuffix(p.Path, "cut.jpg") && strings.Contains(p.Err, "truncated"))
		if strings.HasSuffix(p.Path, "whole.jpg") {
			t.Errorf("the whole JPEG was refused: %v", p)
		}
	}
	if !found {
		t.Errorf("cut.jpg not named as a problem: %v", ds.Problems)
	}
}
