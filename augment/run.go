package augment

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/pruefplatz/pruefplatz/internal/atomicfile"

	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"gocv.io/x/gocv"
)

// ManifestName is the file name of the manifest Run writes into the output folder.
const ManifestName = "augment-manifest.json"

// ErrOutputNotEmpty is returned by Run when the output folder holds files and
// Options.Force is not set.
var ErrOutputNotEmpty = errors.New("output folder is not empty (use --force to write into it)")

// ErrOutputInsideInput is returned by Run when the output folder is the input
// folder or lies inside it, after resolving symlinks and relative paths.
var ErrOutputInsideInput = errors.New("output folder is inside the input folder")

// ErrSkipped is wrapped by the error Run returns when some input files could
// not be read; the other files were still augmented.
var ErrSkipped = errors.New("some input files were skipped")

// TempFile is the part of *os.File the atomic writer uses.
type TempFile = atomicfile.TempFile

// Options configures Run.
type Options struct {
	In, Out  string
	PerImage int
	Seed     uint64
	Pipeline Pipeline
	// Force allows writing into a non-empty output folder.
	Force bool
	// Workers is the number of images processed in parallel; 0 means all cores.
	Workers int
	// Preview, if set, is the path of a contact sheet PNG: each original
	// (at most 8) beside its variants.
	Preview string
	// Progress is called once per finished source image; it may be nil.
	Progress func()
	// Logger receives one line per skipped file; nil means slog.Default().
	Logger *slog.Logger
	// CreateTemp creates the temporary file an output is written to before
	// the rename; nil means os.CreateTemp. Tests inject failures here.
	CreateTemp func(dir, pattern string) (TempFile, error)
}

// Manifest records what Run did, enough to reproduce and trace every output.
// It holds no timestamps, so the same run gives the same bytes.
type Manifest struct {
	Seed     uint64          `json:"seed"`
	PerImage int             `json:"per_image"`
	Pipeline json.RawMessage `json:"pipeline"`
	Outputs  []Output        `json:"outputs"`
	Skipped  []Problem       `json:"skipped,omitempty"`
}

// Output is one written image.
type Output struct {
	Path         string    `json:"path"` // relative to the output folder
	Source       string    `json:"source"`
	SourceSHA256 string    `json:"source_sha256"`
	Class        string    `json:"class"`
	Variant      int       `json:"variant"`
	Applied      []Applied `json:"applied"`
}

// Problem is an input file that was skipped, with the reason.
type Problem struct {
	Path string `json:"path"`
	Err  string `json:"error"`
}

// Summary is what Run reports back.
type Summary struct {
	Sources, Written int
	Skipped          []Problem
	Manifest         *Manifest
}

var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true}

// Run augments every image under opt.In (class folders kept) into opt.Out,
// PerImage variants each, and writes the manifest. Each variant's randomness
// comes from (Seed, source path, variant index), so results do not depend on
// scheduling. Unreadable inputs are logged, skipped and listed; Run then
// returns an error wrapping ErrSkipped after writing everything else. It also
// returns ErrOutputNotEmpty, ErrOutputInsideInput, pipeline validation errors
// and write errors (a failed write leaves no partial file behind).
func Run(ctx context.Context, opt Options) (Summary, error) {
	var sum Summary
	if opt.PerImage < 1 {
		return sum, fmt.Errorf("per-image must be at least 1, got %d", opt.PerImage)
	}
	if err := opt.Pipeline.Validate(); err != nil {
		return sum, err
	}
	if err := CheckFolders(opt.In, opt.Out); err != nil {
		return sum, err
	}
	if err := checkEmpty(opt.Out, opt.Force); err != nil {
		return sum, err
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	if opt.CreateTemp == nil {
		opt.CreateTemp = func(dir, pattern string) (TempFile, error) { return os.CreateTemp(dir, pattern) }
	}
	srcs, err := listImages(opt.In)
	if err != nil {
		return sum, err
	}
	sum.Sources = len(srcs)
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}

	type result struct {
		outputs []Output
		problem *Problem
		err     error
	}
	results := make([]result, len(srcs))
	jobs := make(chan int)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(opt)
			defer w.close()
			for i := range jobs {
				outs, prob, err := w.do(srcs[i])
				results[i] = result{outs, prob, err}
				if err != nil {
					cancel()
				}
				if opt.Progress != nil {
					opt.Progress()
				}
			}
		}()
	}
feed:
	for i := range srcs {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()

	man := &Manifest{Seed: opt.Seed, PerImage: opt.PerImage, Pipeline: opt.Pipeline.JSON(), Outputs: []Output{}}
	for _, r := range results {
		if r.err != nil {
			return sum, r.err
		}
		if r.problem != nil {
			log.Warn("skipped input", "path", r.problem.Path, "err", r.problem.Err)
			sum.Skipped = append(sum.Skipped, *r.problem)
		}
		man.Outputs = append(man.Outputs, r.outputs...)
	}
	if err := ctx.Err(); err != nil {
		return sum, err
	}
	man.Skipped = sum.Skipped
	sum.Written = len(man.Outputs)
	sum.Manifest = man
	b, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return sum, err
	}
	if err := writeAtomic(opt.CreateTemp, filepath.Join(opt.Out, ManifestName), append(b, '\n')); err != nil {
		return sum, err
	}
	if opt.Preview != "" {
		if err := writePreview(opt, man, opt.CreateTemp); err != nil {
			return sum, err
		}
	}
	if len(sum.Skipped) > 0 {
		return sum, fmt.Errorf("%w: %d of %d (listed above and in %s)", ErrSkipped, len(sum.Skipped), sum.Sources, ManifestName)
	}
	return sum, nil
}

// CheckFolders returns ErrOutputInsideInput when out is in or equal to in,
// comparing cleaned absolute paths with symlinks resolved (for out, as far as
// it exists). It also returns an error when in is not a folder.
func CheckFolders(in, out string) error {
	fi, err := os.Stat(in)
	if err != nil {
		return fmt.Errorf("input: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("input %s is not a folder", in)
	}
	ai, err := resolve(in)
	if err != nil {
		return err
	}
	ao, err := resolve(out)
	if err != nil {
		return err
	}
	if ao == ai || strings.HasPrefix(ao, ai+string(filepath.Separator)) {
		return fmt.Errorf("%w: %s is inside %s", ErrOutputInsideInput, out, in)
	}
	return nil
}

// resolve returns the absolute, symlink-free path of p; the part of p that
// does not exist yet is appended unchanged.
func resolve(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for {
		r, err := filepath.EvalSymlinks(a)
		if err == nil {
			return filepath.Join(append([]string{r}, rest...)...), nil
		}
		parent := filepath.Dir(a)
		if parent == a {
			return filepath.Clean(p), nil
		}
		rest = append([]string{filepath.Base(a)}, rest...)
		a = parent
	}
}

func checkEmpty(out string, force bool) error {
	ents, err := os.ReadDir(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if len(ents) > 0 && !force {
		return fmt.Errorf("%w: %s", ErrOutputNotEmpty, out)
	}
	return nil
}

// WalkImages calls fn with the slash-separated path, relative to root, of
// every image file (.jpg, .jpeg, .png, .bmp) under root, in lexical order.
// It returns the first error walking the folder.
func WalkImages(root string, fn func(rel string)) error {
	l, err := listImages(root)
	for _, r := range l {
		fn(r)
	}
	return err
}

// listImages returns the image files under root, relative, sorted.
func listImages(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !imageExts[strings.ToLower(filepath.Ext(p))] {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	sort.Strings(out)
	return out, err
}

// VariantRand returns the generator for one output: a hash of the run seed,
// the source's relative path and the variant index, so every output has its
// own stream whatever order the workers take.
func VariantRand(seed uint64, rel string, variant int) *rand.Rand {
	h := sha256.New()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(rel))
	binary.LittleEndian.PutUint64(b[:], uint64(variant))
	h.Write(b[:])
	sum := h.Sum(nil)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
}

// worker owns the Mats one goroutine reuses across images.
type worker struct {
	opt Options
	dst gocv.Mat
}

func newWorker(opt Options) *worker { return &worker{opt: opt, dst: gocv.NewMat()} }

func (w *worker) close() { w.dst.Close() }

// do augments one source; a bad input is a problem, a write failure an error.
func (w *worker) do(rel string) ([]Output, *Problem, error) {
	path := filepath.Join(w.opt.In, filepath.FromSlash(rel))
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Problem{Path: path, Err: err.Error()}, nil
	}
	src, err := opencv.DecodeImage(data, opencv.Limits{})
	if err != nil {
		src.Close()
		return nil, &Problem{Path: path, Err: err.Error()}, nil
	}
	defer src.Close()
	sum := sha256.Sum256(data)
	ext := strings.ToLower(filepath.Ext(rel))
	isJPEG := ext == ".jpg" || ext == ".jpeg"
	if !isJPEG {
		ext = ".png"
	}
	dir := filepath.Dir(filepath.Join(w.opt.Out, filepath.FromSlash(rel)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	base := strings.TrimSuffix(filepath.Base(rel), filepath.Ext(rel))
	class := ""
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		class = rel[:i]
	}
	var outs []Output
	for v := range w.opt.PerImage {
		applied, err := w.opt.Pipeline.Apply(src, &w.dst, VariantRand(w.opt.Seed, rel, v))
		if err != nil {
			return nil, &Problem{Path: path, Err: err.Error()}, nil
		}
		var enc []byte
		if isJPEG {
			enc, err = opencv.EncodeJPEG(w.dst, 95)
		} else {
			enc, err = opencv.EncodePNG(w.dst)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		name := fmt.Sprintf("%s_aug%03d%s", base, v, ext)
		if err := writeAtomic(w.opt.CreateTemp, filepath.Join(dir, name), enc); err != nil {
			return nil, nil, err
		}
		if applied == nil {
			applied = []Applied{}
		}
		outRel := name
		if d := filepath.ToSlash(filepath.Dir(rel)); d != "." {
			outRel = d + "/" + name
		}
		outs = append(outs, Output{Path: outRel, Source: rel, SourceSHA256: hex.EncodeToString(sum[:]),
			Class: class, Variant: v, Applied: applied})
	}
	return outs, nil, nil
}

func writeAtomic(create func(dir, pattern string) (TempFile, error), path string, data []byte) error {
	return atomicfile.WriteWith(create, path, data, 0o644)
}
