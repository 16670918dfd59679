package augment

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"gocv.io/x/gocv"
)

// makeDataset writes in/<class>/ images: JPEGs and PNGs of different sizes.
func makeDataset(t *testing.T) string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in")
	files := []struct {
		rel  string
		w, h int
	}{{"ok/a.jpg", 40, 30}, {"ok/b.png", 32, 32}, {"scratch/c.jpg", 50, 20}, {"scratch/d.png", 24, 36}}
	for _, f := range files {
		m := testImage(f.w, f.h)
		var b []byte
		var err error
		if strings.HasSuffix(f.rel, ".png") {
			b, err = opencv.EncodePNG(m)
		} else {
			b, err = opencv.EncodeJPEG(m, 90)
		}
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(in, filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return in
}

// readTree returns every file under dir by relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func opts(in, out string, seed uint64, workers int) Options {
	return Options{In: in, Out: out, PerImage: 3, Seed: seed, Pipeline: DefaultPipeline(), Workers: workers}
}

func TestRunDeterministicLabelsAndSizes(t *testing.T) {
	in := makeDataset(t)
	before := readTree(t, in)
	tmp := t.TempDir()
	a, b, c := filepath.Join(tmp, "a"), filepath.Join(tmp, "b"), filepath.Join(tmp, "c")
	sum, err := Run(context.Background(), opts(in, a, 7, 1))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sources != 4 || sum.Written != 12 {
		t.Fatalf("sources %d written %d, want 4 and 12", sum.Sources, sum.Written)
	}
	if _, err := Run(context.Background(), opts(in, b, 7, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), opts(in, c, 8, 2)); err != nil {
		t.Fatal(err)
	}
	ta, tb, tc := readTree(t, a), readTree(t, b), readTree(t, c)
	if len(ta) != 13 {
		t.Fatalf("got %d files, want 12 images and the manifest", len(ta))
	}
	same := 0
	for name, data := range ta {
		if string(tb[name]) != string(data) {
			t.Errorf("%s differs between 1 and 3 workers with the same seed", name)
		}
		if string(tc[name]) == string(data) {
			same++
		}
	}
	if same > 1 { // only the manifest could never match; images may rarely draw nothing
		t.Errorf("%d of %d files identical with another seed", same, len(ta))
	}
	for _, o := range sum.Manifest.Outputs {
		if !strings.HasPrefix(o.Path, o.Class+"/") || !strings.HasPrefix(o.Source, o.Class+"/") {
			t.Errorf("output %s (source %s) left class %s", o.Path, o.Source, o.Class)
		}
		if filepath.Ext(o.Path) != filepath.Ext(o.Source) {
			t.Errorf("output %s has another format than %s", o.Path, o.Source)
		}
		src, err := opencv.ReadImageFile(filepath.Join(in, o.Source), opencv.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := opencv.ReadImageFile(filepath.Join(a, o.Path), opencv.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Cols() != src.Cols() || got.Rows() != src.Rows() {
			t.Errorf("%s is %dx%d, source %dx%d", o.Path, got.Cols(), got.Rows(), src.Cols(), src.Rows())
		}
		src.Close()
		got.Close()
		if len(o.SourceSHA256) != 64 {
			t.Errorf("%s: source sha256 %q", o.Path, o.SourceSHA256)
		}
	}
	after := readTree(t, in)
	if len(after) != len(before) {
		t.Errorf("input changed: %d files before, %d after", len(before), len(after))
	}
}

func TestRunSkipsBadInputs(t *testing.T) {
	in := makeDataset(t)
	good, _ := os.ReadFile(filepath.Join(in, "ok/a.jpg"))
	bad := map[string][]byte{
		"ok/empty.jpg":     nil,
		"ok/truncated.jpg": good[:len(good)/3],
		"ok/text.png":      []byte("not an image at all"),
		"scratch/zz.bmp":   {0x42, 0x4d, 1, 2, 3},
	}
	for rel, b := range bad {
		if err := os.WriteFile(filepath.Join(in, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	sum, err := Run(context.Background(), opts(in, out, 1, 2))
	if !errors.Is(err, ErrSkipped) {
		t.Fatalf("err = %v, want ErrSkipped", err)
	}
	if sum.Written != 12 {
		t.Errorf("written %d, want the 12 variants of the 4 good images", sum.Written)
	}
	got := map[string]bool{}
	for _, p := range sum.Skipped {
		rel, _ := filepath.Rel(in, p.Path)
		got[filepath.ToSlash(rel)] = true
	}
	for rel := range bad {
		// A truncated JPEG may still decode (OpenCV fills the rest grey); it then must produce outputs.
		if !got[rel] && rel != "ok/truncated.jpg" {
			t.Errorf("%s not reported as skipped (skipped: %v)", rel, sum.Skipped)
		}
	}
	if _, err := os.Stat(filepath.Join(out, ManifestName)); err != nil {
		t.Errorf("manifest missing after skips: %v", err)
	}
}

func TestRunRefusesOutputInsideInput(t *testing.T) {
	in := makeDataset(t)
	root := filepath.Dir(in)
	link := filepath.Join(root, "link")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	relIn, _ := filepath.Rel(wd, in)
	for name, out := range map[string]string{
		"same":          in,
		"child":         filepath.Join(in, "aug"),
		"dotdot":        filepath.Join(in, "ok", "..", "aug"),
		"symlink":       filepath.Join(link, "aug"),
		"relative":      filepath.Join(relIn, "new", "deeper"),
		"trailingSlash": in + "/",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Run(context.Background(), opts(in, out, 1, 1))
			if !errors.Is(err, ErrOutputInsideInput) {
				t.Fatalf("out=%s: err = %v, want ErrOutputInsideInput", out, err)
			}
		})
	}
	// A sibling whose name starts with the input's name is fine.
	if err := CheckFolders(in, in+"-aug"); err != nil {
		t.Errorf("sibling refused: %v", err)
	}
}

func TestRunRefusesNonEmptyOutputWithoutForce(t *testing.T) {
	in := makeDataset(t)
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "keep.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), opts(in, out, 1, 1)); !errors.Is(err, ErrOutputNotEmpty) {
		t.Fatalf("err = %v, want ErrOutputNotEmpty", err)
	}
	o := opts(in, out, 1, 1)
	o.Force = true
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatalf("with force: %v", err)
	}
}

// fullDisk fails every write after limit bytes in total, like a disk filling up.
type fullDisk struct {
	f       *os.File
	written *atomic.Int64
	limit   int64
}

func (d fullDisk) Write(p []byte) (int, error) {
	if d.written.Add(int64(len(p))) > d.limit {
		n, _ := d.f.Write(p[:len(p)/2]) // a partial write, as a real full disk does
		return n, &os.PathError{Op: "write", Path: d.f.Name(), Err: syscall.ENOSPC}
	}
	return d.f.Write(p)
}
func (d fullDisk) Name() string { return d.f.Name() }
func (d fullDisk) Sync() error  { return d.f.Sync() }
func (d fullDisk) Close() error { return d.f.Close() }

func TestRunFullDiskLeavesNoPartialFiles(t *testing.T) {
	in := makeDataset(t)
	out := filepath.Join(t.TempDir(), "out")
	var written atomic.Int64
	o := opts(in, out, 1, 2)
	o.CreateTemp = func(dir, pattern string) (TempFile, error) {
		f, err := os.CreateTemp(dir, pattern)
		if err != nil {
			return nil, err
		}
		return fullDisk{f: f, written: &written, limit: 6000}, nil
	}
	_, err := Run(context.Background(), o)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if !strings.Contains(err.Error(), "no space left") || !strings.Contains(err.Error(), out) {
		t.Errorf("error %q does not say which file and why", err)
	}
	for rel, data := range readTree(t, out) {
		if strings.Contains(rel, ".tmp-") {
			t.Errorf("temp file %s left behind", rel)
			continue
		}
		m, err := gocv.IMDecode(data, gocv.IMReadColor)
		if err != nil || m.Empty() {
			t.Errorf("%s is not a complete image", rel)
		}
		m.Close()
	}
	if _, err := os.Stat(filepath.Join(out, ManifestName)); err == nil {
		t.Error("manifest written after a failed run")
	}
	// writeAtomic itself: the error path removes the temp file and leaves no target.
	target := filepath.Join(t.TempDir(), "x.png")
	written.Store(0)
	err = writeAtomic(o.CreateTemp, target, make([]byte, 7000))
	if err == nil {
		t.Fatal("writeAtomic succeeded past the limit")
	}
	if ents, _ := os.ReadDir(filepath.Dir(target)); len(ents) != 0 {
		t.Errorf("left %d file(s) after a failed write", len(ents))
	}
}

func TestRunPreviewSheet(t *testing.T) {
	in := makeDataset(t)
	tmp := t.TempDir()
	o := opts(in, filepath.Join(tmp, "out"), 3, 2)
	o.Preview = filepath.Join(tmp, "sheet.png")
	if _, err := Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	m, err := opencv.ReadImageFile(o.Preview, opencv.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Rows() != 4*previewTile || m.Cols() != 4*previewTile {
		t.Errorf("sheet %dx%d, want 4 rows and 1+3 columns of %d px", m.Cols(), m.Rows(), previewTile)
	}
}

func TestVariantRandDependsOnEveryPart(t *testing.T) {
	base := VariantRand(1, "ok/a.jpg", 0).Uint64()
	for name, r := range map[string]uint64{
		"seed":    VariantRand(2, "ok/a.jpg", 0).Uint64(),
		"path":    VariantRand(1, "ok/b.jpg", 0).Uint64(),
		"variant": VariantRand(1, "ok/a.jpg", 1).Uint64(),
	} {
		if r == base {
			t.Errorf("changing the %s did not change the stream", name)
		}
	}
	if VariantRand(1, "ok/a.jpg", 0).Uint64() != base {
		t.Error("same inputs gave another stream")
	}
}

var _ io.Writer = fullDisk{}
