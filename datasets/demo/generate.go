// Package demo generates Prüfplatz's demo data: photographs of spare parts
// and of a flange with small defects, as a cheap webcam over an inspection
// table would take them, and a video of parts arriving on the table. Real
// customer images cannot ship; these are drawn deterministically from a
// seed, so the same seed gives byte-identical files on the same machine.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/pruefplatz/pruefplatz/internal/atomicfile"

	"github.com/pruefplatz/pruefplatz/inspector"
	"gocv.io/x/gocv"
)

// Version changes whenever the drawing changes, so old data is regenerated.
const Version = 10

// Options say what Generate writes. The zero value of a field means its default.
type Options struct {
	Seed     uint64 // the same seed gives the same files
	PerClass int    // images per class; default 200
	Out      string // parent folder; sets go to Out/demo-parts, Out/demo-defects, Out/demo-feed
	Workers  int    // default: all cores
	Force    bool   // regenerate even when the stamp says the data is there
	// FeedParts is the number of parts in the demo feed; default 14.
	FeedParts int
	// Progress, when set, is told how far each step is (SetFeed in frames,
	// the image sets in images); it is called from one goroutine at a time.
	Progress func(step string, done, total int)
}

func (o Options) withDefaults() Options {
	if o.PerClass <= 0 {
		o.PerClass = 200
	}
	if o.FeedParts <= 0 {
		o.FeedParts = 14
	}
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	if o.Progress == nil {
		o.Progress = func(string, int, int) {}
	}
	return o
}

// Sets are the names of the generated image sets.
const (
	SetParts   = "demo-parts"
	SetDefects = "demo-defects"
	SetFeed    = "demo-feed"
	// SetDefectMasks holds, beside demo-defects, a PNG per defect image
	// (<class>/<name>.png, 255 where the defect was drawn), so a heatmap
	// can be checked against where the defect really is.
	SetDefectMasks = "demo-defects-masks"
)

type stamp struct {
	Version   int    `json:"version"`
	Seed      uint64 `json:"seed"`
	PerClass  int    `json:"per_class"`
	FeedParts int    `json:"feed_parts"`
}

// Generate writes the demo feed, then both image sets (GenerateFeedData,
// then GenerateSets): the station can start on the feed before the sets
// are done.
func Generate(ctx context.Context, opt Options) error {
	if err := GenerateFeedData(ctx, opt); err != nil {
		return err
	}
	return GenerateSets(ctx, opt)
}

// GenerateFeedData writes Out/demo-feed (feed.avi and timeline.json). It
// returns at once when a stamp there says the feed is complete for the same
// seed, parts and Version (see Options.Force). The files appear only when
// complete. It returns ctx's error when cancelled and the first file system
// or encoding error otherwise.
func GenerateFeedData(ctx context.Context, opt Options) error {
	opt = opt.withDefaults()
	dir := filepath.Join(opt.Out, SetFeed)
	want := stamp{Version: Version, Seed: opt.Seed, FeedParts: opt.FeedParts}
	stampPath := filepath.Join(dir, ".stamp.json")
	if !opt.Force && stamped(stampPath, want) && feedComplete(dir) {
		return nil
	}
	os.Remove(stampPath)
	if _, err := GenerateFeed(ctx, FeedOptions{Seed: opt.Seed, Set: "defects", Parts: opt.FeedParts, FPS: 15,
		Out: dir, Workers: opt.Workers, Progress: func(done, total int) { opt.Progress(SetFeed, done, total) }}); err != nil {
		return err
	}
	b, _ := json.Marshal(want)
	return writeAtomic(stampPath, b)
}

// GenerateSets writes both image sets. It returns at once when Out already
// holds complete sets for the same options and Version (see Options.Force);
// otherwise it replaces Out/demo-parts and Out/demo-defects entirely. Files
// are written atomically, so an interrupted run leaves no half image, and the
// stamp is written last. It returns ctx's error when cancelled and the first
// file system or encoding error otherwise.
func GenerateSets(ctx context.Context, opt Options) error {
	opt = opt.withDefaults()
	want := stamp{Version: Version, Seed: opt.Seed, PerClass: opt.PerClass}
	stampPath := filepath.Join(opt.Out, ".demo-data.json")
	if !opt.Force && stamped(stampPath, want) && setsComplete(opt) {
		return nil
	}
	os.Remove(stampPath)
	for _, set := range []struct {
		name    string
		classes []string
	}{{SetParts, PartClasses}, {SetDefects, DefectClasses}} {
		// Start clean: files of an older version or a larger PerClass
		// must not linger among the new ones.
		if err := os.RemoveAll(filepath.Join(opt.Out, set.name)); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if set.name == SetDefects {
			if err := os.RemoveAll(filepath.Join(opt.Out, SetDefectMasks)); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
		}
		if err := generateSet(ctx, opt, set.name, set.classes); err != nil {
			return err
		}
	}
	b, _ := json.Marshal(want)
	return writeAtomic(stampPath, b)
}

func stamped(path string, want stamp) bool {
	var have stamp
	b, err := os.ReadFile(path)
	return err == nil && json.Unmarshal(b, &have) == nil && have == want
}

func fileName(i int) string { return fmt.Sprintf("%04d.jpg", i) }

// setsComplete says whether every image the options ask for is there, so a
// deleted class folder is regenerated even when the stamp matches.
func setsComplete(opt Options) bool {
	for _, set := range []struct {
		name    string
		classes []string
	}{{SetParts, PartClasses}, {SetDefects, DefectClasses}} {
		if _, err := os.Stat(filepath.Join(opt.Out, set.name, ConditionsFile)); err != nil {
			return false
		}
		for _, c := range set.classes {
			for i := range opt.PerClass {
				if _, err := os.Stat(filepath.Join(opt.Out, set.name, c, fileName(i))); err != nil {
					return false
				}
			}
		}
	}
	return true
}

func feedComplete(dir string) bool {
	for _, f := range []string{"feed.avi", "timeline.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

func generateSet(ctx context.Context, opt Options, set string, classes []string) error {
	type job struct {
		class string
		i     int
	}
	jobs := make(chan job)
	errs := make(chan error, opt.Workers)
	var progressMu sync.Mutex // guards done and conds too
	done, total := 0, len(classes)*opt.PerClass
	// The capture conditions the generator knows (models/quality reads
	// them from conditions.json to compare accuracy per background).
	conds := map[string]map[string]string{}
	var wg sync.WaitGroup
	for w := 0; w < opt.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				data, mask, table, err := imageAndMask(opt.Seed, set, j.class, j.i)
				if err == nil {
					err = writeAtomic(filepath.Join(opt.Out, set, j.class, fileName(j.i)), data)
				}
				if err == nil && mask != nil {
					dir := filepath.Join(opt.Out, SetDefectMasks, j.class)
					if err = os.MkdirAll(dir, 0o755); err == nil {
						err = writeAtomic(filepath.Join(dir, MaskName(fileName(j.i))), mask)
					}
				}
				if err == nil {
					progressMu.Lock()
					conds[j.class+"/"+fileName(j.i)] = map[string]string{"background": table}
					done++
					opt.Progress(set, done, total)
					progressMu.Unlock()
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
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(conds, "", " ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(opt.Out, set, ConditionsFile), append(b, '\n'))
}

// ConditionsFile is written beside each image set: the capture conditions
// of every image (its background), as models/quality reads them.
const ConditionsFile = "conditions.json"

// rngFor derives an image's generator from the seed and what it is, so the
// output does not depend on the order of work.
func rngFor(seed uint64, parts ...string) *rand.Rand {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return rand.New(newPCG(seed, h.Sum64()))
}

// Image renders image i of a class of a set (SetParts or SetDefects) as JPEG
// bytes; the result depends only on seed, set, class and i. It returns an
// error for an unknown set or class.
func Image(seed uint64, set, class string, i int) ([]byte, error) {
	r, err := renderImage(seed, set, class, i, false)
	if err != nil {
		return nil, err
	}
	defer r.m.Close()
	return encodeJPEG(r.m, r.quality)
}

// MaskName is the mask file of an image file name: 0007.jpg → 0007.png.
func MaskName(image string) string {
	return strings.TrimSuffix(image, filepath.Ext(image)) + ".png"
}

// imageAndMask is Image plus, for a defect-set image with a defect, its
// defect mask as PNG (nil otherwise), and the background it was shot on;
// one rendering gives all three.
func imageAndMask(seed uint64, set, class string, i int) ([]byte, []byte, string, error) {
	r, err := renderImage(seed, set, class, i, set == SetDefects)
	if err != nil {
		return nil, nil, "", err
	}
	defer r.m.Close()
	jpg, err := encodeJPEG(r.m, r.quality)
	if err != nil || set != SetDefects {
		return jpg, nil, r.table, err
	}
	g := image.NewGray(image.Rect(0, 0, Width, Height))
	any := false
	for k, v := range r.defMask {
		if v != 0 {
			g.Pix[k], any = 255, true
		}
	}
	if !any {
		return jpg, nil, r.table, nil
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, g); err != nil {
		return nil, nil, "", err
	}
	return jpg, buf.Bytes(), r.table, nil
}

// shot is one rendered image with what tests need to know about it.
type shot struct {
	m        gocv.Mat // BGR, the caller closes it
	quality  int
	table    string  // the background, for the capture conditions
	partMask []uint8 // Width*Height, 1 on the part
	defMask  []uint8 // Width*Height, 1 on the defect
}

// The defect station has a placement mark: flanges are laid on it by hand,
// so they rest within FixtureJitter pixels of the frame's centre, at any
// rotation. FixtureROI is the square around the mark the defect model looks
// at; a real station would mark it on the table.
const FixtureJitter = 12

// flangeScale draws the defect station's flange scale (pixels per part unit).
func flangeScale(rng *rand.Rand) float64 {
	return Height * (0.55 + 0.03*rng.Float64()) / (2 * flangeR)
}

// FixtureROI is the region of interest around the placement mark (640×480 frames).
// It is as tight as the largest flange at the mark's jitter allows, so the
// model's input spends its pixels on the flange rather than the mat.
var FixtureROI = inspector.Rect{X: Width/2 - 150, Y: Height/2 - 150, W: 300, H: 300}

// placedPose puts a part on the placement mark.
func placedPose(rng *rand.Rand) (angle, cx, cy float64) {
	angle = rng.Float64() * 2 * math.Pi
	cx = Width/2 + (2*rng.Float64()-1)*FixtureJitter
	cy = Height/2 + (2*rng.Float64()-1)*FixtureJitter
	return
}

// partPose draws a part's scale, rotation and position. fully keeps the
// whole part in view; otherwise up to a fifth of it may leave the frame.
func partPose(rng *rand.Rand, rb, scale float64, fully bool) (angle, cx, cy float64) {
	angle = rng.Float64() * 2 * math.Pi
	r := rb * scale
	m := r + 6
	if !fully {
		m = r * 0.8
	}
	cx = m + rng.Float64()*math.Max(0, Width-2*m)
	cy = m + rng.Float64()*math.Max(0, Height-2*m)
	return
}

func renderImage(seed uint64, set, class string, i int, masks bool) (shot, error) {
	rng := rngFor(seed, set, class, fmt.Sprint(i))
	var (
		pd    partDef
		err   error
		scale float64
		fully bool
	)
	switch set {
	case SetParts:
		pd, err = sparePart(class, rng)
		// ±25 % around a size where a part spans a third of the
		// frame's height, as when a person lays it under the camera.
		scale = 1.45 * (0.75 + 0.5*rng.Float64())
	case SetDefects:
		pd, err = flange(class, rng)
		// The station's camera is fixed, so every flange shows at
		// nearly one size: 55 to 58 % of the frame's height (turning
		// tolerance and the lens's edge), big enough for a defect to
		// survive the model's downscaling.
		scale = flangeScale(rng)
		fully = true
	default:
		err = fmt.Errorf("demo: unknown set %q", set)
	}
	if err != nil {
		return shot{}, err
	}
	kind, mt := sceneAnywhere, metals[rng.IntN(len(metals))]
	if set == SetDefects {
		kind, mt = sceneStation, flangeMetal
	}
	sc := newScene(rng, kind)
	angle, cx, cy := partPose(rng, pd.rb, scale, fully)
	if set == SetDefects {
		angle, cx, cy = placedPose(rng)
	}
	sp := makeSprite(pd, scale, angle)
	pl := sc.prepare(rng, sp, mt)
	frame := make([]float32, Width*Height*3)
	var pm, dm []uint8
	if masks {
		pm, dm = make([]uint8, Width*Height), make([]uint8, Width*Height)
	}
	sc.compose(frame, &pl, int(cx)-sp.S/2, int(cy)-sp.S/2, pm, dm)
	m := sc.camera(rng, frame, make([]byte, Width*Height*3))
	return shot{m: m, quality: sc.quality, table: sc.table, partMask: pm, defMask: dm}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// writeAtomic writes data atomically, creating path's folder.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.Write(path, data, 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

var errNoFrames = errors.New("demo: feed has no frames")

// WriteImages writes per images of each class of a set (SetParts or
// SetDefects), as Image draws them, into an ImageFolder at dir
// (dir/<class>/NNN.jpg): a small dataset for tests, without the minutes
// Generate takes. It returns an error for an unknown set or class and the
// first file system error.
func WriteImages(dir string, seed uint64, set string, classes []string, per int) error {
	for _, class := range classes {
		if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
			return err
		}
		for i := range per {
			b, err := Image(seed, set, class, i)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, class, fmt.Sprintf("%03d.jpg", i)), b, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
