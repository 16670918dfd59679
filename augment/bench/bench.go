// Package bench measures the augment transforms in images per second against
// the same transforms in Python with OpenCV, run as a subprocess in the same
// run on the same images. It backs `pruefplatz bench augment`.
package bench

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/disintegration/imaging"
	"github.com/pruefplatz/pruefplatz/augment"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"gocv.io/x/gocv"
)

//go:embed peer.py
var peerScript []byte

// Config says how long to measure and which Python to compare with.
type Config struct {
	// Seconds is the measuring time per case and side (after one warm-up call).
	Seconds float64
	// Python is the interpreter that can import cv2 (Debian's /usr/bin/python3).
	Python string
	// Rounds is how often both sides are measured, alternating; each keeps its best.
	Rounds int
	// Sizes are the image sizes measured; nil means 256×256 and 640×480.
	Sizes []image.Point
}

// Row is one measured case.
type Row struct {
	Transform string  `json:"transform"` // rotate, shift, mirror, brightness, default
	Impl      string  `json:"impl"`      // gocv or imaging
	Size      string  `json:"size"`
	Cores     string  `json:"cores"` // "1" or "all (N)"
	Ours      float64 `json:"ours_img_s"`
	Theirs    float64 `json:"theirs_img_s"`
}

// Ratio is ours divided by theirs.
func (r Row) Ratio() float64 { return r.Ours / r.Theirs }

type goCase struct {
	transform, impl string
	// newFn returns a function that transforms one image; each goroutine gets its own (own Mats, own rng).
	newFn func(src gocv.Mat, nrgba *image.NRGBA) (fn func(), done func())
}

func goCases() []goCase {
	mat := func(f func(src gocv.Mat, dst *gocv.Mat, rng *rand.Rand)) func(gocv.Mat, *image.NRGBA) (func(), func()) {
		return func(src gocv.Mat, _ *image.NRGBA) (func(), func()) {
			dst := gocv.NewMat()
			rng := rand.New(rand.NewPCG(1, 2))
			return func() { f(src, &dst, rng) }, func() { dst.Close() }
		}
	}
	img := func(f func(*image.NRGBA) *image.NRGBA) func(gocv.Mat, *image.NRGBA) (func(), func()) {
		return func(_ gocv.Mat, m *image.NRGBA) (func(), func()) {
			return func() { _ = f(m) }, func() {}
		}
	}
	def := augment.DefaultPipeline()
	return []goCase{
		{"rotate", "gocv", mat(func(s gocv.Mat, d *gocv.Mat, _ *rand.Rand) { augment.Rotate(s, d, 15, gocv.BorderReflect101) })},
		{"shift", "gocv", mat(func(s gocv.Mat, d *gocv.Mat, _ *rand.Rand) {
			augment.Shift(s, d, int(0.08*float64(s.Cols())+0.5), int(0.08*float64(s.Rows())+0.5), gocv.BorderReflect101)
		})},
		{"mirror", "gocv", mat(func(s gocv.Mat, d *gocv.Mat, _ *rand.Rand) { gocv.Flip(s, d, 1) })},
		{"mirror", "imaging", img(func(m *image.NRGBA) *image.NRGBA { return imaging.FlipH(m) })},
		{"brightness", "gocv", mat(func(s gocv.Mat, d *gocv.Mat, _ *rand.Rand) {
			s.ConvertToWithParams(d, s.Type(), 1.1, float32(10+128*(1-1.1)))
		})},
		{"brightness", "imaging", img(func(m *image.NRGBA) *image.NRGBA {
			return imaging.AdjustBrightness(imaging.AdjustContrast(m, 10), 4)
		})},
		{"default", "gocv", mat(func(s gocv.Mat, d *gocv.Mat, rng *rand.Rand) { _, _ = def.Apply(s, d, rng) })},
	}
}

// SyntheticImage is a deterministic w×h BGR test picture: smooth gradients,
// a few filled shapes and mild noise, so codecs and warps see texture.
func SyntheticImage(w, h int) gocv.Mat {
	m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	rng := rand.New(rand.NewPCG(42, uint64(w*h)))
	buf := make([]byte, w*h*3)
	for y := range h {
		for x := range w {
			i := (y*w + x) * 3
			n := rng.IntN(9) - 4
			buf[i] = uint8(max(0, min(255, 60+120*x/w+n)))
			buf[i+1] = uint8(max(0, min(255, 50+140*y/h+n)))
			buf[i+2] = uint8(max(0, min(255, 90+(x+y)%64+n)))
		}
	}
	m.Close()
	m, _ = gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, buf)
	gocv.Circle(&m, image.Pt(w/3, h/2), min(w, h)/5, color.RGBA{200, 200, 210, 0}, -1)
	gocv.Rectangle(&m, image.Rect(w/2, h/4, w*5/6, h*3/4), color.RGBA{30, 40, 50, 0}, -1)
	gocv.Line(&m, image.Pt(0, h-1), image.Pt(w-1, 0), color.RGBA{250, 250, 250, 0}, 2)
	return m
}

// Run measures every case on one core and on all cores, prints the table to
// w and returns the rows. It returns an error when the Python peer cannot be
// run (its stderr is included) or an image cannot be written.
func Run(ctx context.Context, cfg Config, w io.Writer) ([]Row, error) {
	if cfg.Seconds <= 0 {
		cfg.Seconds = 0.5
	}
	if cfg.Python == "" {
		cfg.Python = "/usr/bin/python3"
	}
	sizes := cfg.Sizes
	if sizes == nil {
		sizes = []image.Point{{256, 256}, {640, 480}}
	}
	dir, err := os.MkdirTemp("", "pruefplatz-bench-augment-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	ncpu := runtime.NumCPU()
	defaultThreads := cvThreads()
	oldProcs := runtime.GOMAXPROCS(0)
	defer func() {
		runtime.GOMAXPROCS(oldProcs)
		setCVThreads(defaultThreads)
	}()

	type pyCase struct {
		ID        int     `json:"id"`
		Image     string  `json:"image"`
		Transform string  `json:"transform"`
		Threads   int     `json:"threads"`
		Seconds   float64 `json:"seconds"`
	}
	var rows []Row
	var py []pyCase
	pyID := map[string]int{}
	script := filepath.Join(dir, "peer.py")
	if err := os.WriteFile(script, peerScript, 0o644); err != nil {
		return nil, err
	}
	// The machine is shared, so load comes and goes: alternate Go and Python
	// rounds and keep each side's best, so neither side is measured only
	// during someone else's burst.
	theirs := []float64{}
	for round := range max(1, cfg.Rounds) {
		ri := 0
		for _, sz := range sizes {
			src := SyntheticImage(sz.X, sz.Y)
			path := filepath.Join(dir, fmt.Sprintf("synthetic-%dx%d.png", sz.X, sz.Y))
			b, err := opencv.EncodePNG(src)
			if err == nil {
				err = os.WriteFile(path, b, 0o644)
			}
			if err != nil {
				src.Close()
				return nil, err
			}
			nrgba, err := toNRGBA(src)
			if err != nil {
				src.Close()
				return nil, err
			}
			for _, cores := range []int{1, ncpu} {
				label := "1"
				pyThreads := 1
				if cores != 1 || ncpu == 1 {
					label = fmt.Sprintf("all (%d)", ncpu)
					pyThreads = -1
				}
				if cores == 1 {
					runtime.GOMAXPROCS(1)
					setCVThreads(1)
				} else {
					runtime.GOMAXPROCS(ncpu)
					setCVThreads(defaultThreads)
				}
				for _, c := range goCases() {
					if err := ctx.Err(); err != nil {
						src.Close()
						return nil, err
					}
					ips := measure(src, nrgba, c, cores, cfg.Seconds)
					if round > 0 {
						rows[ri].Ours = max(rows[ri].Ours, ips)
						ri++
						continue
					}
					rows = append(rows, Row{Transform: c.transform, Impl: c.impl, Size: fmt.Sprintf("%dx%d", sz.X, sz.Y), Cores: label, Ours: ips})
					key := fmt.Sprintf("%s|%s|%s", c.transform, rows[len(rows)-1].Size, label)
					if _, ok := pyID[key]; !ok {
						pyID[key] = len(py)
						py = append(py, pyCase{ID: len(py), Image: path, Transform: c.transform, Threads: pyThreads, Seconds: cfg.Seconds})
					}
				}
			}
			src.Close()
		}
		runtime.GOMAXPROCS(oldProcs)
		setCVThreads(defaultThreads)

		if round == 0 {
			theirs = make([]float64, len(py))
		}
		if err := runPeer(ctx, cfg.Python, script, py, theirs); err != nil {
			return nil, err
		}
	}
	for i := range rows {
		rows[i].Theirs = theirs[pyID[fmt.Sprintf("%s|%s|%s", rows[i].Transform, rows[i].Size, rows[i].Cores)]]
	}
	printTable(w, rows)
	return rows, nil
}

// runPeer runs the Python script on the cases and raises theirs[id] to each
// measured rate.
func runPeer[C any](ctx context.Context, python, script string, py []C, theirs []float64) error {
	arg, _ := json.Marshal(map[string]any{"cases": py})
	cmd := exec.CommandContext(ctx, python, script, string(arg))
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("python peer %s: %w", python, err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var r struct {
			ID      int     `json:"id"`
			N       int     `json:"n"`
			Seconds float64 `json:"seconds"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err == nil && r.ID < len(theirs) {
			theirs[r.ID] = max(theirs[r.ID], float64(r.N)/r.Seconds)
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("python peer %s (needs python3-opencv; make setup-bench installs it): %w\n%s", python, err, stderr.String())
	}
	return nil
}

// measure runs c for about seconds on cores goroutines and returns images per second.
func measure(src gocv.Mat, nrgba *image.NRGBA, c goCase, cores int, seconds float64) float64 {
	var total atomic.Int64
	var wg sync.WaitGroup
	var start sync.WaitGroup
	start.Add(1)
	var elapsed time.Duration
	var mu sync.Mutex
	for range cores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn, done := c.newFn(src, nrgba)
			defer done()
			fn() // warm-up: allocations and OpenCV's lazy initialisation
			start.Wait()
			t0 := time.Now()
			n := int64(0)
			for {
				fn()
				n++
				if el := time.Since(t0); el.Seconds() >= seconds {
					mu.Lock()
					elapsed = max(elapsed, el)
					mu.Unlock()
					break
				}
			}
			total.Add(n)
		}()
	}
	start.Done()
	wg.Wait()
	return float64(total.Load()) / elapsed.Seconds()
}

func toNRGBA(m gocv.Mat) (*image.NRGBA, error) {
	rgb := gocv.NewMat()
	defer rgb.Close()
	gocv.CvtColor(m, &rgb, gocv.ColorBGRToRGBA)
	img, err := rgb.ToImage()
	if err != nil {
		return nil, err
	}
	return imaging.Clone(img), nil
}

func printTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "transform\timpl\tsize\tcores\tours img/s\tpython+opencv img/s\tours/theirs\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f\t%.0f\t%.2f×\t\n", r.Transform, r.Impl, r.Size, r.Cores, r.Ours, r.Theirs, r.Ratio())
	}
	tw.Flush()
}

// limitedBuffer keeps the first 8 KiB of the peer's stderr for the error message.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 8192 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
