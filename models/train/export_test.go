//go:build onnx

package train

// These tests export ONNX models, which GoMLX can only do when built with
// -tags onnx (the Makefile sets it for every go command).

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pruefplatz/pruefplatz/models"
)

// TestTrainBadFilesSkippedAndListed trains on a dataset with an empty class,
// a class of three images, an image whose header is fine but whose data is
// cut off, a file that is no image and one that is not even named like one.
// Training must go on, publish a verified model of the usable classes, and
// list every problem in the card.
func TestTrainBadFilesSkippedAndListed(t *testing.T) {
	data := tinyDataset(t, []string{"left", "right", "top", "zempty"}, []int{10, 10, 3, 0})
	good, err := os.ReadFile(filepath.Join(data, "left", "aa.png"))
	if err != nil {
		t.Fatal(err)
	}
	// The header survives (Load's quick check passes); the pixels do not.
	mustWrite(t, filepath.Join(data, "right", "truncated.png"), good[:len(good)/2])
	mustWrite(t, filepath.Join(data, "left", "garbage.jpg"), []byte("this is no JPEG"))
	mustWrite(t, filepath.Join(data, "left", "notes.txt"), []byte("not an image"))
	mustWrite(t, filepath.Join(data, "zempty", "broken.png"), []byte("\x89PNG broken"))

	opt := tinyOptions(t, data)
	var out bytes.Buffer
	opt.Out = &out
	res, err := Train(context.Background(), opt)
	if err != nil {
		t.Fatalf("training with some bad files failed: %v\n%s", err, out.String())
	}
	card := res.Card
	if want := []string{"left", "right", "top"}; strings.Join(card.Labels, ",") != strings.Join(want, ",") {
		t.Errorf("labels %v, want %v (the empty class left out)", card.Labels, want)
	}
	problems := strings.Join(card.Dataset.Problems, "\n")
	for _, want := range []string{"truncated.png", "garbage.jpg", "notes.txt", "broken.png", "zempty: empty class", "top: only 3 images"} {
		if !strings.Contains(problems, want) {
			t.Errorf("the card's problems do not mention %q:\n%s", want, problems)
		}
	}
	if !strings.Contains(out.String(), "truncated.png") {
		t.Errorf("the skipped truncated image was not reported while training:\n%s", out.String())
	}

	// The published version is complete and its card matches its files.
	reloaded, err := models.LoadCard(filepath.Join(res.Dir, models.CardFile))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := models.FileSHA256(filepath.Join(res.Dir, models.ModelFile))
	if err != nil || sum != reloaded.ONNXSHA256 {
		t.Errorf("model sha256 %s (err %v), card says %s", sum, err, reloaded.ONNXSHA256)
	}
	for _, f := range reloaded.Files {
		if st, err := os.Stat(filepath.Join(res.Dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("card names %s but the version folder lacks it: %v", f, err)
		}
	}
	// The drift monitor's baseline: one top score per validation image.
	if sb := reloaded.ScoreBaseline; sb == nil || sb.Bins == 0 || sb.Total() != int64(reloaded.Metrics["validation"].N) {
		t.Errorf("score baseline %+v, want one count per validation image (%d)", sb, reloaded.Metrics["validation"].N)
	}
	ver := reloaded.Verification
	if ver == nil || len(ver.References) == 0 || ver.MaxAbsDiff > ver.Tolerance {
		t.Fatalf("verification %+v: want references within tolerance", ver)
	}
	for _, r := range ver.References {
		if len(r.InputSHA256) != 64 || len(r.FileSHA256) != 64 {
			t.Errorf("reference %s lacks its hashes: %+v", r.File, r)
		}
	}
	if reloaded.Training.Curve[0].TrainLoss <= 0 {
		t.Errorf("curve %+v has no training loss", reloaded.Training.Curve[0])
	}

	t.Run("verify catches a disagreeing export", func(t *testing.T) {
		spec := reloaded.Input
		x := make([]float32, spec.TensorLen())
		wrong := make([]float32, len(reloaded.Labels))
		wrong[0] = 1 // a confident answer the export will not reproduce from a blank image
		_, err := verify(Options{ORTLib: opt.ORTLib, Tolerance: 1e-4}, filepath.Join(res.Dir, models.ModelFile), spec,
			len(reloaded.Labels), [][]float32{x}, [][]float32{wrong}, []string{filepath.Join(data, "left", "aa.png")}, nil)
		if !errors.Is(err, ErrExportMismatch) {
			t.Errorf("verify with outputs the export cannot match: %v, want ErrExportMismatch", err)
		}
	})
}

// fullDisk is a file that takes a few bytes and then reports ENOSPC, as a
// disk filling up during the export would.
type fullDisk struct {
	n    int
	path string
}

func (f *fullDisk) Write(p []byte) (int, error) {
	if f.n+len(p) > 512 {
		return 0, &os.PathError{Op: "write", Path: f.path, Err: syscall.ENOSPC}
	}
	f.n += len(p)
	return len(p), nil
}

func (f *fullDisk) Close() error { return nil }

func TestTrainFullDiskDuringExportLeavesNothing(t *testing.T) {
	data := tinyDataset(t, []string{"left", "right"}, []int{8, 8})
	opt := tinyOptions(t, data)
	var created []string
	opt.createFile = func(path string) (io.WriteCloser, error) {
		created = append(created, path)
		// A real partial file beside the failing writer proves the cleanup removes it.
		if err := os.WriteFile(path, []byte("partial"), 0o644); err != nil {
			return nil, err
		}
		return &fullDisk{path: path}, nil
	}
	_, err := Train(context.Background(), opt)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("export to a full disk: %v, want an error wrapping ENOSPC", err)
	}
	assertNoVersion(t, opt.Registry, opt.Name)
	for _, p := range created {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("half-written export %s was left behind", p)
		}
	}
}

// TestTrainPureGoBackend trains on the pure-Go backend (the fallback when
// ONNX Runtime cannot run the training) and still exports a verified model.
func TestTrainPureGoBackend(t *testing.T) {
	data := tinyDataset(t, []string{"left", "right"}, []int{8, 8})
	opt := tinyOptions(t, data)
	opt.Backend = BackendGo
	opt.Epochs, opt.StepsPerEpoch = 1, 2
	res, err := Train(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Card.Training.Backend != BackendGo || res.Card.Verification.MaxAbsDiff > res.Card.Verification.Tolerance {
		t.Errorf("card training %+v verification %+v", res.Card.Training.Backend, res.Card.Verification)
	}
}
