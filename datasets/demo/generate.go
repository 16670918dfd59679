// Package demo generates Prüfplatz's demo data: photographs of spare parts
// and of a flange with small defects, as a cheap webcam over an inspection
// table would take them, and a video of parts arriving on the table. Real
// customer images cannot ship; these are drawn deterministically from a
// seed, so the same seed gives byte-identical files on the same machine.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"gocv.io/x/gocv"
)

// Version changes whenever the drawing changes, so old data is regenerated.
const Version = 1

// Options say what Generate writes.
type Options struct {
	Seed     uint64
	PerClass int    // images per class; default 100
	Out      string // parent folder; sets go to Out/demo-parts, Out/demo-defects, Out/demo-feed
	Workers  int    // default: all cores
	Force    bool   // regenerate even when the stamp says the data is there
	// FeedParts is the number of parts in the demo feed; default 14.
	FeedParts int
}

// Sets are the names of the generated image sets.
const (
	SetParts   = "demo-parts"
	SetDefects = "demo-defects"
	SetFeed    = "demo-feed"
)

type stamp struct {
	Version   int    `json:"version"`
	Seed      uint64 `json:"seed"`
	PerClass  int    `json:"per_class"`
	FeedParts int    `json:"feed_parts"`
}

// Generate writes both image sets and the demo feed. It returns quickly when
// Out already holds complete data for the same options (see Options.Force).
// Files are written atomically, so an interrupted run leaves no half image.
func Generate(ctx context.Context, opt Options) error {
	if opt.PerClass <= 0 {
		opt.PerClass = 100
	}
	if opt.FeedParts <= 0 {
		opt.FeedParts = 14
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.NumCPU()
	}
	want := stamp{Version, opt.Seed, opt.PerClass, opt.FeedParts}
	stampPath := filepath.Join(opt.Out, ".demo-data.json")
	if !opt.Force {
		var have stamp
		if b, err := os.ReadFile(stampPath); err == nil && json.Unmarshal(b, &have) == nil && have == want {
			return nil
		}
	}
	os.Remove(stampPath)
	for _, set := range []struct {
		name    string
		classes []string
	}{{SetParts, PartClasses}, {SetDefects, DefectClasses}} {
		if err := generateSet(ctx, opt, set.name, set.classes); err != nil {
			return err
		}
	}
	if _, err := GenerateFeed(ctx, FeedOptions{Seed: opt.Seed, Set: "defects", Parts: opt.FeedParts, FPS: 15,
		Out: filepath.Join(opt.Out, SetFeed), Workers: opt.Workers}); err != nil {
		return err
	}
	b, _ := json.Marshal(want)
	return writeAtomic(stampPath, b)
}

func generateSet(ctx context.Context, opt Options, set string, classes []string) error {
	type job struct {
		class string
		i     int
	}
	jobs := make(chan job)
	errs := make(chan error, opt.Workers)
	var wg sync.WaitGroup
	for w := 0; w < opt.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				data, err := Image(opt.Seed, set, j.class, j.i)
				if err == nil {
					err = writeAtomic(filepath.Join(opt.Out, set, j.class, fmt.Sprintf("%04d.jpg", j.i)), data)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, c := range classes {
		if e := os.MkdirAll(filepath.Join(opt.Out, set, c), 0o755); e != nil {
			err = e
			break
		}
		for i := 0; i < opt.PerClass; i++ {
			select {
			case jobs <- job{c, i}:
			case err = <-errs:
				break feed
			case <-ctx.Done():
				err = ctx.Err()
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// rngFor derives an image's generator from the seed and what it is, so the
// output does not depend on the order of work.
func rngFor(seed uint64, parts ...string) *rand.Rand {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// Image renders image i of a class of a set ("demo-parts" or "demo-defects") as JPEG bytes.
func Image(seed uint64, set, class string, i int) ([]byte, error) {
	m, lk, err := imageMat(seed, set, class, i)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return opencv.EncodeJPEG(m, lk.quality)
}

func imageMat(seed uint64, set, class string, i int) (gocv.Mat, look, error) {
	rng := rngFor(seed, set, class, fmt.Sprint(i))
	lk := randomLook(rng)
	var pt part
	switch set {
	case SetParts:
		if !contains(PartClasses, class) {
			return gocv.NewMat(), lk, fmt.Errorf("demo: %s has no class %q", set, class)
		}
		pt.draw = sparePart(class, rng)
		r := 70 + 45*rng.Float64() // every class in the same size range
		pt.pose = pose{R: r, Theta: rng.Float64() * 2 * math.Pi,
			CX: r + 10 + rng.Float64()*(Width-2*r-20), CY: r + 10 + rng.Float64()*(Height-2*r-20)}
	case SetDefects:
		if !contains(DefectClasses, class) {
			return gocv.NewMat(), lk, fmt.Errorf("demo: %s has no class %q", set, class)
		}
		pt.draw = flange(class, rng)
		r := 130 + 35*rng.Float64()
		pt.pose = pose{R: r, Theta: rng.Float64() * 2 * math.Pi,
			CX: r + 8 + rng.Float64()*(Width-2*r-16), CY: r + 8 + rng.Float64()*(Height-2*r-16)}
	default:
		return gocv.NewMat(), lk, fmt.Errorf("demo: unknown set %q", set)
	}
	pt.metal, pt.spec, pt.shade, pt.gloss = randomPartLook(rng)
	return render(lk, []part{pt}, rng), lk, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// writeAtomic writes data to a temporary file beside path and renames it
// into place, so readers never see a partial file.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("demo: writing %s: %w", path, err)
	}
	return nil
}

var errNoFrames = errors.New("demo: feed has no frames")
