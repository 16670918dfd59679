//go:build anomalyexp

// The experiment harness behind docs/anomaly.md's "what was tried" tables:
// it extracts every image's features once and scores variants of the
// image score side by side (oracle figures on the test split). Not part of
// make test; run it with
//
//	go test -tags onnx,anomalyexp ./models/anomaly -run TestExperiment -v -timeout 30m
//
// and EXP_DATA, EXP_OK, EXP_GRID, EXP_ROI (x,y,w,h), EXP_RATIO, EXP_MAXBANK,
// EXP_WORDS, EXP_DESCS (comma-separated: mean, meanstd, grid4, max, bow)
// and EXP_OUT (the table's file). Variants of the input and bank: EXP_F16
// (the bank, pose reference and positional bank through the half floats
// the model's files keep), EXP_PHOTO (each image's grey levels
// standardised before the backbone), EXP_FLIP (mirrored and turned
// training images in the bank), EXP_REWEIGHT (PatchCore's reweighting of
// the top patches), EXP_POSSYM (a positional bank pooled over an n-fold
// rotation symmetry), EXP_TOPGOOD (the parts of the top good test images),
// EXP_NATIVE (all or large: tiles at the image's own scale), EXP_DUMP (a
// file for every scored image's patch distances; TestCombineDumps adds two
// designs' standardised scores from two such files: EXP_COMBINE).
package anomaly

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector"
	ia "github.com/pruefplatz/pruefplatz/inspector/anomaly"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/backbones"
	"gocv.io/x/gocv"
)

func env(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

type rec struct {
	class string
	d     []float32
	patch float32
	gd    float32 // global distance of the descriptor being tried
	desc  map[string][]float32
	s     datasets.Sample
	pos   []float32 // positional distances
	rw    float32   // EXP_REWEIGHT: reweighted top mean
	rwMax float32   // EXP_REWEIGHT: reweighted largest
}

var words *ia.Bank

func bow(f []float32) []float32 {
	n := len(f) / ia.Dim
	h := make([]float32, words.Len())
	for i := 0; i < n; i++ {
		q := f[i*ia.Dim : (i+1)*ia.Dim]
		best, bi := float32(math.Inf(1)), 0
		for w := 0; w < words.Len(); w++ {
			var s float32
			r := words.Data[w*ia.Dim : (w+1)*ia.Dim]
			for j := range q {
				d := q[j] - r[j]
				s += d * d
			}
			if s < best {
				best, bi = s, w
			}
		}
		h[bi]++
	}
	for i := range h {
		h[i] = float32(math.Sqrt(float64(h[i] / float32(n))))
	}
	return h
}

// sideOf returns the side of the square patch grid of features f.
func sideOf(f []float32) int { return sideOf2(f[:len(f)/ia.Dim]) }

// sideOf2 returns the side of the square patch grid of distances d.
func sideOf2(d []float32) int { return int(math.Round(math.Sqrt(float64(len(d))))) }

func descs(f []float32, side int) map[string][]float32 {
	n := len(f) / ia.Dim
	mean := make([]float32, ia.Dim)
	sq := make([]float32, ia.Dim)
	mx := make([]float32, ia.Dim)
	for i := 0; i < n; i++ {
		for j := 0; j < ia.Dim; j++ {
			v := f[i*ia.Dim+j]
			mean[j] += v
			sq[j] += v * v
			mx[j] = max(mx[j], v)
		}
	}
	std := make([]float32, ia.Dim)
	for j := range mean {
		mean[j] /= float32(n)
		std[j] = float32(math.Sqrt(math.Max(0, float64(sq[j]/float32(n)-mean[j]*mean[j]))))
	}
	g := 4
	grid := make([]float32, g*g*ia.Dim)
	cnt := make([]float32, g*g)
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			c := (y*g/side)*g + x*g/side
			cnt[c]++
			for j := 0; j < ia.Dim; j++ {
				grid[c*ia.Dim+j] += f[(y*side+x)*ia.Dim+j]
			}
		}
	}
	for c := range cnt {
		for j := 0; j < ia.Dim; j++ {
			grid[c*ia.Dim+j] /= cnt[c]
		}
	}
	return map[string][]float32{"mean": mean, "meanstd": append(append([]float32(nil), mean...), std...), "grid4": grid, "max": mx}
}

func TestExperiment(t *testing.T) {
	ctx := context.Background()
	lib, _ := filepath.Abs("../../.deps/onnxruntime/libonnxruntime.so.1")
	if err := onnx.Init(lib); err != nil {
		t.Fatal(err)
	}
	data := env("EXP_DATA", "../../datasets/demo-defects")
	okl := env("EXP_OK", "ok")
	grid, _ := strconv.Atoi(env("EXP_GRID", "1"))
	ratio, _ := strconv.ParseFloat(env("EXP_RATIO", "0.02"), 64)
	maxBank, _ := strconv.Atoi(env("EXP_MAXBANK", "4096"))
	var roi *inspector.Rect
	if r := os.Getenv("EXP_ROI"); r != "" {
		var x, y, w, h int
		fmt.Sscanf(r, "%d,%d,%d,%d", &x, &y, &w, &h)
		roi = &inspector.Rect{X: x, Y: y, W: w, H: h}
	}
	bb, _ := backbones.Get("../backbones", backbones.MobileNetV2)
	ds, err := loadDataset(data, []string{okl})
	if err != nil {
		t.Fatal(err)
	}
	oks, defects := splitOK(ds.Samples, []string{okl})
	opt := Options{Grid: grid}
	opt.defaults()
	fitOpt := ia.FitOptions{Ratio: ratio, MaxBank: maxBank, Seed: 1}
	okDS := &datasets.Dataset{Root: ds.Root, Classes: []string{okl}, Samples: oks}
	sp := okDS.Split(1, opt.ValFrac, opt.TestFrac)
	tmp := t.TempDir()
	pb, err := pruneBackbone(bb, filepath.Join(tmp, "model.onnx"), os.Create)
	if err != nil {
		t.Fatal(err)
	}
	runner, err := onnx.OpenBackbone(pb, onnx.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer runner.Close()
	spec := Spec(grid, opt.Resize, roi)
	ex, err := newExtractor(runner, spec, grid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	side := ia.Side * grid
	// EXP_PHOTO: each image's grey levels standardised (mean 0.5, SD 0.2
	// over its non-padding pixels) before the backbone
	photo := os.Getenv("EXP_PHOTO") != ""
	// EXP_NB2: the 3×3-averaged patch features averaged over 3×3 once
	// more within each tile (a 5×5 neighbourhood weighted 1,2,3,2,1);
	// EXP_NB2=n: n times
	nb2 := os.Getenv("EXP_NB2") != ""
	nb2n, _ := strconv.Atoi(os.Getenv("EXP_NB2")) // times (default once)
	// EXP_NATIVE: tiles at the image's own scale instead of the letterbox's:
	// "all" centres every image unscaled on a 672 px canvas (3×3 tiles),
	// "large" only those whose long side exceeds the letterbox (the others
	// are letterboxed as before); the patch grids then differ in size
	native := os.Getenv("EXP_NATIVE")
	ex3, err := newExtractor(runner, Spec(3, opt.Resize, roi), 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer ex3.Close()
	nativeFeatures := func(ctx context.Context, path string) ([]float32, bool, error) {
		img, err := opencv.ReadImageFile(path, opencv.Limits{})
		if err != nil {
			img.Close()
			return nil, false, err
		}
		defer img.Close()
		c := 3 * ia.Side * 8
		w, h := img.Cols(), img.Rows()
		if (native == "large" && max(w, h) <= side*8) || w > c || h > c {
			return nil, false, nil
		}
		pad := gocv.NewMat()
		defer pad.Close()
		gocv.CopyMakeBorder(img, &pad, (c-h)/2, c-h-(c-h)/2, (c-w)/2, c-w-(c-w)/2, gocv.BorderConstant, color.RGBA{})
		if err := ex3.pre.Run(pad, ex3.x); err != nil {
			return nil, false, err
		}
		f, err := ia.Extract(ctx, ex3.r, ex3.x, 3, ex3.tile)
		if err != nil {
			return nil, false, err
		}
		for n := nb2n; n > 0; n-- {
			f = ia.Widen(f, 3)
		}
		return f, true, nil
	}
	xfeatures := func(ctx context.Context, path string) ([]float32, error) {
		if native != "" {
			f, ok, err := nativeFeatures(ctx, path)
			if err != nil || ok {
				return f, err
			}
		}
		if nb2 {
			f, err := ex.features(ctx, path)
			if err != nil {
				return nil, err
			}
			for n := max(nb2n, 1); n > 0; n-- {
				f = ia.Widen(f, grid)
			}
			return f, nil
		}
		if !photo {
			return ex.features(ctx, path)
		}
		if err := ex.tensor(path); err != nil {
			return nil, err
		}
		photoNorm(ex.x, spec)
		return ia.Extract(ctx, ex.r, ex.x, ex.g, ex.tile)
	}
	if n := len(sp.Train) * ia.Patches * grid * grid; n > 250000 {
		fitOpt.ImageKeep = math.Max(0.02, 250000/float64(n))
	}
	if k, err := strconv.ParseFloat(os.Getenv("EXP_KEEP"), 64); err == nil {
		fitOpt.ImageKeep = k
	}
	fit := ia.NewFitter(fitOpt)
	var train []rec
	var trainPaths []string
	flips := os.Getenv("EXP_FLIP") != ""
	for _, s := range sp.Train {
		f, err := xfeatures(ctx, s.Path)
		if err != nil {
			continue
		}
		fit.Add(f)
		trainPaths = append(trainPaths, s.Path)
		if flips {
			// EXP_FLIP: the good image mirrored, turned by 180° and
			// flipped upside down join the bank as well
			for _, h := range []bool{true, false, true} {
				flip(ex.x, spec, h)
				ff, err := ia.Extract(ctx, ex.r, ex.x, ex.g, ex.tile)
				if err != nil {
					t.Fatal(err)
				}
				fit.Add(ff)
			}
		}
	}
	bank, st, err := fit.Bank()
	if err != nil {
		t.Fatal(err)
	}
	f16 := os.Getenv("EXP_F16") != ""
	if f16 {
		// what the stored model sees: the bank (and so the words) through
		// half floats
		if bank, err = ia.DecodeBank(bank.EncodeF16()); err != nil {
			t.Fatal(err)
		}
	}
	nw, _ := strconv.Atoi(env("EXP_WORDS", "64"))
	words, _ = ia.NewBank(bank.Data[:nw*ia.Dim], ia.Dim)
	usePos := os.Getenv("EXP_POS") != ""
	posK, _ := strconv.Atoi(env("EXP_POSK", "16"))
	posSpread, _ := strconv.Atoi(env("EXP_POSSPREAD", "1"))
	var trainGreys [][]float32
	var trainFeats [][]float32
	// EXP_DESCS=none: no global descriptors (and no second pass over the
	// training images for them)
	noDescs := os.Getenv("EXP_DESCS") == "none"
	for _, p := range trainPaths {
		if noDescs {
			break
		}
		f, _ := xfeatures(ctx, p)
		if usePos {
			g, err := ia.Grey(ex.x, ia.Side*8*grid)
			if err != nil {
				t.Fatal(err)
			}
			trainGreys = append(trainGreys, g)
			trainFeats = append(trainFeats, f)
		}
		d := descs(f, sideOf(f))
		d["bow"] = bow(f)
		train = append(train, rec{class: "train", desc: d})
	}
	t.Logf("bank %d of %d", st.Bank, st.Patches)
	var poseRef *ia.PoseRef
	var posBank *ia.PosBank
	if usePos {
		poseRef, err = ia.NewPoseRef(trainGreys)
		if err != nil {
			t.Fatal(err)
		}
		pf := ia.NewPosFitter(side, posK, posSpread, 1, 2)
		// EXP_POSDISC: only the canonical grid's inscribed circle is compared
		pf.Disc = os.Getenv("EXP_POSDISC") != ""
		// EXP_POSSYM n: each training image also joins at its pose turned
		// by 360°/n, 2·360°/n, … (a part with n-fold symmetry)
		sym, _ := strconv.Atoi(env("EXP_POSSYM", "1"))
		for i, f := range trainFeats {
			ps := poseRef.Estimate(trainGreys[i])
			for k := 0; k < max(sym, 1); k++ {
				q := ps
				q.Angle += 2 * math.Pi * float64(k) / float64(max(sym, 1))
				pf.Add(f, q)
			}
		}
		trainFeats = nil
		if os.Getenv("EXP_POSDEBUG") != "" {
			// turn real training images by known angles: the estimates
			// must differ by those angles (mod 90°, the flange's symmetry)
			n := ia.GreySide
			for i, g := range trainGreys[:12] {
				a := float64(i) * 0.5
				rot := make([]float32, n*n)
				for y := 0; y < n; y++ {
					for x := 0; x < n; x++ {
						dx, dy := float64(x)+0.5-float64(n)/2, float64(y)+0.5-float64(n)/2
						// rot(p) = g(Rot(−a)·p)
						sx := math.Cos(a)*dx + math.Sin(a)*dy + float64(n)/2
						sy := -math.Sin(a)*dx + math.Cos(a)*dy + float64(n)/2
						xi, yi := min(max(int(sx), 0), n-1), min(max(int(sy), 0), n-1)
						rot[y*n+x] = g[yi*n+xi]
					}
				}
				p0, p1 := poseRef.Estimate(g), poseRef.Estimate(rot)
				d := math.Mod((p1.Angle-p0.Angle-a)*180/math.Pi+720+45, 90) - 45
				defer t.Logf("turned %.0f°: estimates %.1f° and %.1f°, error %.1f° (mod 90); centres (%.3f,%.3f) (%.3f,%.3f)", a*180/math.Pi, p0.Angle*180/math.Pi, p1.Angle*180/math.Pi, d, p0.CX, p0.CY, p1.CX, p1.CY)
			}
		}
		if os.Getenv("EXP_POSDEBUG") == "only" {
			return
		}
		if posBank, err = pf.Bank(); err != nil {
			t.Fatal(err)
		}
		if f, err := strconv.ParseFloat(os.Getenv("EXP_POSSCALE"), 32); err == nil {
			posBank.Scale = posBank.CellScales(float32(f))
		}
		if os.Getenv("EXP_POSSCALE") == "none" {
			posBank.Scale = nil
		}
		if f16 {
			if poseRef, err = ia.DecodePoseRef(poseRef.Encode()); err != nil {
				t.Fatal(err)
			}
			if os.Getenv("EXP_F16") != "bank" {
				if posBank, err = ia.DecodePosBank(posBank.EncodeF16(), side, posK); err != nil {
					t.Fatal(err)
				}
				posBank.Disc = pf.Disc
			}
		}
	}
	baseK, _ := strconv.Atoi(env("EXP_BASEK", "1"))
	reweight := os.Getenv("EXP_REWEIGHT") != ""
	rw := &reweighter{bank: bank, b: 9, nn: map[int][]int{}}
	search, err := onnx.NewNearest(bank, onnx.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer search.Close()
	score := func(ss []datasets.Sample, class string) []rec {
		var out []rec
		for _, s := range ss {
			f, err := xfeatures(ctx, s.Path)
			if err != nil {
				continue
			}
			d := make([]float32, len(f)/ia.Dim)
			if err := search.Nearest(ctx, f, d); err != nil {
				t.Fatal(err)
			}
			c := class
			if c == "" {
				c = s.Class
			}
			dd := descs(f, sideOf(f))
			dd["bow"] = bow(f)
			var pos []float32
			if usePos {
				g, err := ia.Grey(ex.x, ia.Side*8*grid)
				if err != nil {
					t.Fatal(err)
				}
				pos = make([]float32, len(d))
				posBank.Distances(f, poseRef.Estimate(g), pos)
			}
			rr := rec{class: c, d: d, patch: ia.TopMean(d, baseK), desc: dd, s: s, pos: pos}
			if reweight {
				rr.rw, rr.rwMax = rw.score(f, d, baseK)
			}
			out = append(out, rr)
		}
		return out
	}
	val := score(sp.Val, "val")
	test := score(append(append([]datasets.Sample(nil), sp.Test...), defects...), "")
	if out := os.Getenv("EXP_DUMP"); out != "" {
		dumpScores(t, out, val, test)
	}
	var lines []string
	report := func(name string, sc func(r rec) float32) {
		// the card's rule on the held-out images: NOK from their 99 %
		// quantile + 10 %
		var vs []float32
		for _, r := range val {
			vs = append(vs, sc(r))
		}
		nokAt := ia.Quantile(vs, 0.99) * 1.1
		// the z rule: NOK from the held-out mean + 3.09 standard
		// deviations (the normal 99.9 % point), OK up to + 2.33 (99 %)
		var mu, sd float64
		for _, v := range vs {
			mu += float64(v)
		}
		mu /= float64(len(vs))
		for _, v := range vs {
			sd += (float64(v) - mu) * (float64(v) - mu)
		}
		sd = math.Sqrt(sd / float64(len(vs)-1))
		zNOK, zOK := float32(mu+3.09*sd), float32(mu+2.33*sd)
		var good, bad []float32
		per := map[string][]float32{}
		for _, r := range test {
			v := sc(r)
			if r.class == okl {
				good = append(good, v)
			} else {
				bad = append(bad, v)
				per[r.class] = append(per[r.class], v)
			}
		}
		var cls []string
		for c := range per {
			cls = append(cls, c)
		}
		sort.Strings(cls)
		// per-class recall at the oracle 2 % / 5 % threshold
		g := append([]float32(nil), good...)
		sort.Slice(g, func(i, j int) bool { return g[i] > g[j] })
		thr := func(fa float64) float32 { return g[min(int(math.Floor(fa*float64(len(g)))), len(g)-1)] }
		t5 := thr(0.05)
		pc := ""
		for _, c := range cls {
			n := 0
			for _, v := range per[c] {
				if v > t5 {
					n++
				}
			}
			pc += fmt.Sprintf(" %s %.0f%%", c, 100*float64(n)/float64(len(per[c])))
		}
		card := func(v []float32) float64 {
			n := 0
			for _, x := range v {
				if x >= nokAt {
					n++
				}
			}
			return 100 * float64(n) / float64(len(v))
		}
		at := func(v []float32, th float32) float64 {
			n := 0
			for _, x := range v {
				if x >= th {
					n++
				}
			}
			return 100 * float64(n) / float64(len(v))
		}
		lines = append(lines, fmt.Sprintf("%-34s AUROC %.3f  R@5 %.1f%%  R@2 %.1f%%  card R %.1f%% FA %.1f%%  z R %.1f%% FA %.1f%% (≥OK R %.1f%% FA %.1f%%) |%s", name, ia.AUROC(good, bad),
			100*recallAt(good, bad, 0.05), 100*recallAt(good, bad, 0.02), card(bad), card(good), at(bad, zNOK), at(good, zNOK), at(bad, zOK), at(good, zOK), pc))
	}
	report("patch", func(r rec) float32 { return r.patch })
	if reweight {
		median := func(d []float32) float32 { return ia.Quantile(d, 0.5) }
		report("reweighted top-k", func(r rec) float32 { return r.rw })
		report("reweighted top-k − median/2", func(r rec) float32 { return r.rw - median(r.d)/2 })
		report("reweighted largest", func(r rec) float32 { return r.rwMax })
	}
	report("patch smooth σ1 max", func(r rec) float32 { return ia.MaxScore(ia.Smooth(r.d, sideOf2(r.d), sideOf2(r.d), 1)) })
	report("patch smooth σ0.7 max", func(r rec) float32 { return ia.MaxScore(ia.Smooth(r.d, sideOf2(r.d), sideOf2(r.d), 0.7)) })
	median := func(d []float32) float32 { return ia.Quantile(d, 0.5) }
	for _, k := range []int{20, 40, 80} {
		for _, a := range []float32{0.25, 0.75} {
			report(fmt.Sprintf("top-%d − %.2f median", k, a), func(r rec) float32 { return ia.TopMean(r.d, k) - a*median(r.d) })
		}
		report(fmt.Sprintf("top-%d smooth σ1 − median/2", k), func(r rec) float32 {
			sm := ia.Smooth(r.d, sideOf2(r.d), sideOf2(r.d), 1)
			return ia.TopMean(sm, k) - median(sm)/2
		})
	}
	for _, k := range []int{10, 40} {
		report(fmt.Sprintf("top-%d − median", k), func(r rec) float32 { return ia.TopMean(r.d, k) - median(r.d) })
		report(fmt.Sprintf("top-%d − median/2", k), func(r rec) float32 { return ia.TopMean(r.d, k) - median(r.d)/2 })
		report(fmt.Sprintf("top-%d / median", k), func(r rec) float32 { return ia.TopMean(r.d, k) / median(r.d) })
		report(fmt.Sprintf("top-%d + max", k), func(r rec) float32 { return ia.TopMean(r.d, k) + ia.MaxScore(r.d) })
		report(fmt.Sprintf("top-%d smooth σ1", k), func(r rec) float32 { return ia.TopMean(ia.Smooth(r.d, sideOf2(r.d), sideOf2(r.d), 1), k) })
	}
	for _, k := range []int{3, 5, 10, 20, 40, 50, 80} {
		report(fmt.Sprintf("patch top-%d mean", k), func(r rec) float32 {
			s := append([]float32(nil), r.d...)
			sort.Slice(s, func(i, j int) bool { return s[i] > s[j] })
			var m float32
			for _, v := range s[:k] {
				m += v
			}
			return m / float32(k)
		})
	}
	var pv []float32
	for _, r := range val {
		pv = append(pv, r.patch)
	}
	pq := ia.Quantile(pv, 0.99)
	pmed := ia.Quantile(pv, 0.5)
	for _, name := range strings.Split(env("EXP_DESCS", "bow,meanstd,grid4"), ",") {
		if noDescs {
			break
		}
		dim := len(train[0].desc[name])
		// z-score by the training images' spread
		mu := make([]float64, dim)
		sd := make([]float64, dim)
		for _, r := range train {
			for j, v := range r.desc[name] {
				mu[j] += float64(v)
			}
		}
		for j := range mu {
			mu[j] /= float64(len(train))
		}
		for _, r := range train {
			for j, v := range r.desc[name] {
				sd[j] += (float64(v) - mu[j]) * (float64(v) - mu[j])
			}
		}
		for j := range sd {
			sd[j] = math.Sqrt(sd[j]/float64(len(train))) + 1e-3
		}
		for _, z := range []bool{false, true} {
			for _, k := range []int{1, 3} {
				gdist := func(r rec) float32 {
					ds := make([]float64, 0, len(train))
					for _, tr := range train {
						var s float64
						for j, v := range r.desc[name] {
							d := float64(v - tr.desc[name][j])
							if z {
								d /= sd[j]
							}
							s += d * d
						}
						ds = append(ds, math.Sqrt(s))
					}
					sort.Float64s(ds)
					var m float64
					for i := 0; i < k; i++ {
						m += ds[i]
					}
					return float32(m / float64(k))
				}
				gcache := map[*rec]float32{}
				var gv []float32
				for i := range val {
					v := gdist(val[i])
					gcache[&val[i]] = v
					gv = append(gv, v)
				}
				for i := range test {
					gcache[&test[i]] = gdist(test[i])
				}
				gq := ia.Quantile(gv, 0.99)
				tag := fmt.Sprintf("%s z=%v k=%d", name, z, k)
				for k := range test {
					test[k].gd = gcache[&test[k]]
				}
				var gvals []float32
				for k := range val {
					val[k].gd = gcache[&val[k]]
					gvals = append(gvals, val[k].gd)
				}
				gmed := ia.Quantile(gvals, 0.5)
				report(tag+" global", func(r rec) float32 { return r.gd })
				report(tag+" max(p,g)", func(r rec) float32 { return max(r.patch/pq, r.gd/gq) })
				report(tag+" sum", func(r rec) float32 { return r.patch/pq + r.gd/gq })
				report(tag+" sum median refs", func(r rec) float32 { return r.patch/pmed + r.gd/gmed })
				pm, ps := meanSD(pv)
				gm, gs := meanSD(gvals)
				report(tag+" sum z", func(r rec) float32 { return (r.patch-pm)/ps + (r.gd-gm)/gs })
			}
		}
	}
	if usePos {
		posScore := func(k int) func(r rec) float32 { return func(r rec) float32 { return ia.TopMean(r.pos, k) } }
		for _, k := range []int{1, 3, 10} {
			report(fmt.Sprintf("pos top-%d", k), posScore(k))
		}
		var gv, posv []float32
		for _, r := range val {
			gv = append(gv, r.gd)
			posv = append(posv, ia.MaxScore(r.pos))
		}
		pm, ps := meanSD(pv)
		gm, gs := meanSD(gv)
		qm, qs := meanSD(posv)
		report("patch z + pos z", func(r rec) float32 { return (r.patch-pm)/ps + (ia.MaxScore(r.pos)-qm)/qs })
		report("max(patch z, pos z)", func(r rec) float32 { return max((r.patch-pm)/ps, (ia.MaxScore(r.pos)-qm)/qs) })
		report("patch z + pos z + global z", func(r rec) float32 {
			return (r.patch-pm)/ps + (ia.MaxScore(r.pos)-qm)/qs + (r.gd-gm)/gs
		})
		pos3 := func(r rec) float32 { return ia.TopMean(r.pos, 3) }
		var p3v []float32
		for _, r := range val {
			p3v = append(p3v, pos3(r))
		}
		q3m, q3s := meanSD(p3v)
		report("patch z + pos3 z", func(r rec) float32 { return (r.patch-pm)/ps + (pos3(r)-q3m)/q3s })
		report("patch z + pos3 z + global z", func(r rec) float32 { return (r.patch-pm)/ps + (pos3(r)-q3m)/q3s + (r.gd-gm)/gs })
		if os.Getenv("EXP_TOPGOOD") != "" {
			// the good test images of highest combined score and their parts
			type goodRow struct {
				path       string
				p, q, g, s float32
				hot        int // the largest positional distance's cell
			}
			var all []goodRow
			var defs []float32
			for _, r := range test {
				hot := 0
				for i, x := range r.pos {
					if x > r.pos[hot] {
						hot = i
					}
				}
				v := goodRow{r.s.Path, (r.patch - pm) / ps, (pos3(r) - q3m) / q3s, (r.gd - gm) / gs, 0, hot}
				v.s = v.p + v.q + v.g
				if r.class == okl {
					all = append(all, v)
				} else {
					defs = append(defs, v.s)
				}
			}
			sort.Slice(all, func(i, j int) bool { return all[i].s > all[j].s })
			for _, v := range all[:5] {
				n := 0
				for _, d := range defs {
					if d <= v.s {
						n++
					}
				}
				lines = append(lines, fmt.Sprintf("top good %s: sum %.2f = patch %.2f + pos %.2f + global %.2f; defects at or below: %d; largest positional distance at cell (%d,%d)", filepath.Base(v.path), v.s, v.p, v.q, v.g, n, v.hot%side, v.hot/side))
			}
		}
		if masks := os.Getenv("EXP_MASKS"); masks != "" {
			// the hottest cell of several maps, on the defect masks
			pq99 := ia.Quantile(pv, 0.99)
			qq99 := ia.Quantile(posv, 0.99)
			maps := []struct {
				name string
				m    func(r rec) []float32
			}{
				{"patch", func(r rec) []float32 { return r.d }},
				{"pos", func(r rec) []float32 { return r.pos }},
				{"patch/q + pos/q", func(r rec) []float32 {
					o := make([]float32, len(r.d))
					for i := range o {
						o[i] = r.d[i]/pq99 + r.pos[i]/qq99
					}
					return o
				}},
				{"max(patch/q, pos/q)", func(r rec) []float32 {
					o := make([]float32, len(r.d))
					for i := range o {
						o[i] = max(r.d[i]/pq99, r.pos[i]/qq99)
					}
					return o
				}},
				{"patch/mean + pos/mean", func(r rec) []float32 {
					o := make([]float32, len(r.d))
					for i := range o {
						o[i] = r.d[i]/pm + r.pos[i]/qm
					}
					return o
				}},
				{"max(patch/mean, 1.5 pos/mean)", func(r rec) []float32 {
					o := make([]float32, len(r.d))
					for i := range o {
						o[i] = max(r.d[i]/pm, 1.5*r.pos[i]/qm)
					}
					return o
				}},
				{"max(patch/q, 1.5 pos/q)", func(r rec) []float32 {
					o := make([]float32, len(r.d))
					for i := range o {
						o[i] = max(r.d[i]/pq99, 1.5*r.pos[i]/qq99)
					}
					return o
				}},
				{"z cells max((d-pm)/ps, (pos-qm)/qs)", func(r rec) []float32 {
					o := make([]float32, len(r.d))
					for i := range o {
						o[i] = max((r.d[i]-pm)/ps, (r.pos[i]-qm)/qs)
					}
					return o
				}},
				{"switch: pos z > patch z → pos, else max", func(r rec) []float32 {
					o := make([]float32, len(r.d))
					posDom := (pos3(r)-q3m)/q3s > (r.patch-pm)/ps
					for i := range o {
						if posDom {
							o[i] = r.pos[i] / qm
						} else {
							o[i] = max(r.d[i]/pm, r.pos[i]/qm)
						}
					}
					return o
				}},
				{"switch: pos z > patch z → pos, else patch", func(r rec) []float32 {
					o := make([]float32, len(r.d))
					posDom := (pos3(r)-q3m)/q3s > (r.patch-pm)/ps
					for i := range o {
						if posDom {
							o[i] = r.pos[i] / qm
						} else {
							o[i] = r.d[i] / pm
						}
					}
					return o
				}},
				{"weighted: max(d/pm·w_p, pos/qm·w_q), w = max(part z,1)", func(r rec) []float32 {
					o := make([]float32, len(r.d))
					wp := max((r.patch-pm)/ps, 1)
					wq := max((pos3(r)-q3m)/q3s, 1)
					for i := range o {
						o[i] = max(r.d[i]/pm*wp, r.pos[i]/qm*wq)
					}
					return o
				}},
				{"max(patch/mean, pos/mean)", func(r rec) []float32 {
					o := make([]float32, len(r.d))
					for i := range o {
						o[i] = max(r.d[i]/pm, r.pos[i]/qm)
					}
					return o
				}},
			}
			for _, mp := range maps {
				on, n := map[string]int{}, map[string]int{}
				for _, r := range test {
					if r.class == okl {
						continue
					}
					hit, ok, err := hotOnMask(ia.Params{Sigma: 1}, mp.m(r), side, r.s, masks, spec)
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						n[r.class]++
						n[""]++
						if hit {
							on[r.class]++
							on[""]++
						}
					}
				}
				line := fmt.Sprintf("hot on defect, %-26s all %.1f%%", mp.name, 100*frac(on[""], n[""]))
				for _, c := range []string{"crack", "dent", "missing_hole", "scratch"} {
					line += fmt.Sprintf(" %s %.1f%%", c, 100*frac(on[c], n[c]))
				}
				lines = append(lines, line)
			}
		}
	}
	out := strings.Join(lines, "\n")
	fmt.Println(out)
	os.WriteFile(env("EXP_OUT", "/tmp/a2exp/out.txt"), []byte(out+"\n"), 0o644)
}

func meanSD(v []float32) (float32, float32) {
	var mu, sd float64
	for _, x := range v {
		mu += float64(x)
	}
	mu /= float64(len(v))
	for _, x := range v {
		sd += (float64(x) - mu) * (float64(x) - mu)
	}
	return float32(mu), float32(math.Sqrt(sd/float64(len(v)-1))) + 1e-9
}

// BenchmarkLocate profiles one model's Locate on one image:
// EXP_MODELDIR (a version folder) and EXP_IMAGE; EXP_NOLB drops a
// letterboxed part.
func BenchmarkLocate(b *testing.B) {
	lib, _ := filepath.Abs("../../.deps/onnxruntime/libonnxruntime.so.1")
	if err := onnx.Init(lib); err != nil {
		b.Fatal(err)
	}
	dir := os.Getenv("EXP_MODELDIR")
	data, err := os.ReadFile(filepath.Join(dir, "card.json"))
	if err != nil {
		b.Fatal(err)
	}
	var c models.Card
	if err := json.Unmarshal(data, &c); err != nil {
		b.Fatal(err)
	}
	oo := onnx.Options{Threads: 2, NoSpin: os.Getenv("EXP_NOSPIN") != ""}
	m, err := Open(&c, dir, oo, func(bank *ia.Bank) (ia.Searcher, error) {
		return onnx.NewNearest(bank, oo)
	})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	if os.Getenv("EXP_NOLB") != "" {
		// the model without its letterboxed part: what that part costs
		m.Lb = nil
	}
	ex, err := newExtractor(m.Runner(), c.Input, c.Anomaly.Grid, c.Anomaly.Neighbourhood)
	if err != nil {
		b.Fatal(err)
	}
	defer ex.Close()
	if err := ex.tensor(os.Getenv("EXP_IMAGE")); err != nil {
		b.Fatal(err)
	}
	x := append([]float32(nil), ex.x...)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := m.Locate(context.Background(), x); err != nil {
			b.Fatal(err)
		}
	}
}

// photoNorm standardises the grey levels of input x (CHW, normalised by
// spec) over its non-padding (not black) pixels to mean 0.5, SD 0.2.
func photoNorm(x []float32, spec inspector.InputSpec) {
	n := spec.Width * spec.Height
	c := spec.Channels
	var sum, sq float64
	var cnt int
	grey := make([]float64, n)
	pad := make([]bool, n)
	for i := 0; i < n; i++ {
		var g float64
		black := true
		for ch := 0; ch < c; ch++ {
			v := float64(x[ch*n+i]*spec.Std[ch] + spec.Mean[ch])
			g += v
			if v > 1e-4 {
				black = false
			}
		}
		g /= float64(c)
		grey[i], pad[i] = g, black
		if !black {
			sum += g
			sq += g * g
			cnt++
		}
	}
	if cnt < 2 {
		return
	}
	mu := sum / float64(cnt)
	sd := math.Sqrt(max(sq/float64(cnt)-mu*mu, 1e-8))
	for i := 0; i < n; i++ {
		if pad[i] {
			continue
		}
		shift := (grey[i]-mu)/sd*0.2 + 0.5 - grey[i]
		for ch := 0; ch < c; ch++ {
			v := float64(x[ch*n+i]*spec.Std[ch]+spec.Mean[ch]) + shift
			x[ch*n+i] = float32((v - float64(spec.Mean[ch])) / float64(spec.Std[ch]))
		}
	}
}

// flip mirrors input x (CHW) left to right (h) or upside down, in place.
func flip(x []float32, spec inspector.InputSpec, h bool) {
	w, ht := spec.Width, spec.Height
	for c := 0; c < spec.Channels; c++ {
		p := x[c*w*ht : (c+1)*w*ht]
		if h {
			for y := 0; y < ht; y++ {
				row := p[y*w : (y+1)*w]
				for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
					row[i], row[j] = row[j], row[i]
				}
			}
			continue
		}
		for i, j := 0, ht-1; i < j; i, j = i+1, j-1 {
			for k := 0; k < w; k++ {
				p[i*w+k], p[j*w+k] = p[j*w+k], p[i*w+k]
			}
		}
	}
}

// reweighter applies PatchCore's reweighting to an image's top patches:
// s = (1 − exp(d*) / Σ_{m ∈ N_b(m*)} exp(‖q − m‖)) · d*, N_b(m*) the b
// nearest bank patches of the patch's nearest bank patch m* (itself
// included).
type reweighter struct {
	bank *ia.Bank
	b    int
	nn   map[int][]int
}

func sq(a, b []float32) float64 {
	var s float32
	for i, v := range a {
		d := v - b[i]
		s += d * d
	}
	return float64(s)
}

// neighbours returns the b nearest bank patches of bank patch m.
func (w *reweighter) neighbours(m int) []int {
	if n, ok := w.nn[m]; ok {
		return n
	}
	D := w.bank.Dim
	type kv struct {
		i int
		d float64
	}
	best := make([]kv, 0, w.b+1)
	q := w.bank.Data[m*D : (m+1)*D]
	for j := 0; j < w.bank.Len(); j++ {
		d := sq(q, w.bank.Data[j*D:(j+1)*D])
		if len(best) == w.b && d >= best[w.b-1].d {
			continue
		}
		best = append(best, kv{j, d})
		sort.Slice(best, func(a, c int) bool { return best[a].d < best[c].d })
		if len(best) > w.b {
			best = best[:w.b]
		}
	}
	n := make([]int, len(best))
	for i, e := range best {
		n[i] = e.i
	}
	w.nn[m] = n
	return n
}

// score returns the mean of the k largest reweighted patch scores (taken
// over the 2k patches of largest distance) and the largest.
func (w *reweighter) score(f, d []float32, k int) (mean, largest float32) {
	D := w.bank.Dim
	idx := make([]int, len(d))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return d[idx[a]] > d[idx[b]] })
	idx = idx[:min(2*k, len(idx))]
	var sc []float32
	for _, i := range idx {
		q := f[i*D : (i+1)*D]
		ms, md := 0, math.Inf(1)
		for j := 0; j < w.bank.Len(); j++ {
			if v := sq(q, w.bank.Data[j*D:(j+1)*D]); v < md {
				ms, md = j, v
			}
		}
		ds := math.Sqrt(md)
		var z float64
		for _, j := range w.neighbours(ms) {
			z += math.Exp(math.Sqrt(sq(q, w.bank.Data[j*D:(j+1)*D])) - ds)
		}
		sc = append(sc, float32((1-1/z)*ds))
	}
	return ia.TopMean(sc, k), ia.MaxScore(sc)
}

// dumpScores writes every held-out and test image's patch distances to
// path, to try image scores on them without extracting features again:
// per image its class (length-prefixed), its width and height in pixels,
// the number of distances and the distances (little-endian int32 and
// float32).
func dumpScores(t *testing.T, path string, sets ...[]rec) {
	var b bytes.Buffer
	for _, set := range sets {
		for _, r := range set {
			img, err := opencv.ReadImageFile(r.s.Path, opencv.Limits{})
			if err != nil {
				img.Close()
				t.Fatal(err)
			}
			w, h := img.Cols(), img.Rows()
			img.Close()
			binary.Write(&b, binary.LittleEndian, int32(len(r.class)))
			b.WriteString(r.class)
			binary.Write(&b, binary.LittleEndian, []int32{int32(w), int32(h), int32(len(r.d))})
			binary.Write(&b, binary.LittleEndian, r.d)
		}
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCombineDumps adds two designs' image scores from their EXP_DUMP
// files (EXP_COMBINE=a.bin,b.bin; the same split, so the same images in
// the same order), each standardised by the held-out good images' mean
// and SD, and prints both and their sum and larger with the harness's
// figures. EXP_COMBINE_SCORES: each design's score, topK or topK-mA
// (the mean of the K largest less A × the median), default
// top40-m0.5,top40.
func TestCombineDumps(t *testing.T) {
	files := strings.Split(os.Getenv("EXP_COMBINE"), ",")
	if len(files) != 2 {
		t.Skip("EXP_COMBINE=a.bin,b.bin")
	}
	scores := strings.Split(env("EXP_COMBINE_SCORES", "top40-m0.5,top40"), ",")
	type img struct {
		class string
		w, h  int32
		d     []float32
	}
	load := func(path string) []img {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r := bytes.NewReader(data)
		var out []img
		for r.Len() > 0 {
			var n int32
			binary.Read(r, binary.LittleEndian, &n)
			c := make([]byte, n)
			r.Read(c)
			var hdr [3]int32
			binary.Read(r, binary.LittleEndian, &hdr)
			d := make([]float32, hdr[2])
			if err := binary.Read(r, binary.LittleEndian, d); err != nil {
				t.Fatal(err)
			}
			out = append(out, img{string(c), hdr[0], hdr[1], d})
		}
		return out
	}
	scorer := func(spec string) func([]float32) float32 {
		var k int
		var a float32
		if _, err := fmt.Sscanf(spec, "top%d-m%g", &k, &a); err != nil {
			a = 0
			if _, err := fmt.Sscanf(spec, "top%d", &k); err != nil {
				t.Fatalf("score %q (want topK or topK-mA)", spec)
			}
		}
		return func(d []float32) float32 { return ia.TopMean(d, k) - a*ia.Quantile(d, 0.5) }
	}
	a, b := load(files[0]), load(files[1])
	if len(a) != len(b) {
		t.Fatalf("%d and %d images", len(a), len(b))
	}
	z := func(set []img, sc func([]float32) float32) []float32 {
		v := make([]float32, len(set))
		var val []float32
		for i, r := range set {
			v[i] = sc(r.d)
			if r.class == "val" {
				val = append(val, v[i])
			}
		}
		mu, sd := meanSD(val)
		for i := range v {
			v[i] = (v[i] - mu) / sd
		}
		return v
	}
	for i := range a {
		if a[i].class != b[i].class || a[i].w != b[i].w || a[i].h != b[i].h {
			t.Fatalf("image %d differs: %s %d×%d, %s %d×%d", i, a[i].class, a[i].w, a[i].h, b[i].class, b[i].w, b[i].h)
		}
	}
	za, zb := z(a, scorer(scores[0])), z(b, scorer(scores[1]))
	report := func(name string, v []float32) {
		var val, good, bad []float32
		per := map[string][]float32{}
		for i, r := range a {
			switch {
			case r.class == "val":
				val = append(val, v[i])
			case r.class == env("EXP_OK", "free"):
				good = append(good, v[i])
			default:
				bad = append(bad, v[i])
				per[r.class] = append(per[r.class], v[i])
			}
		}
		mu, sd := meanSD(val)
		zNOK := mu + 3.09*sd
		at := func(v []float32, th float32) float64 {
			n := 0
			for _, x := range v {
				if x >= th {
					n++
				}
			}
			return 100 * float64(n) / float64(len(v))
		}
		g := append([]float32(nil), good...)
		sort.Slice(g, func(i, j int) bool { return g[i] > g[j] })
		t5 := g[min(int(math.Floor(0.05*float64(len(g)))), len(g)-1)]
		var cls []string
		for c := range per {
			cls = append(cls, c)
		}
		sort.Strings(cls)
		pc, pz := "", ""
		for _, c := range cls {
			n := 0
			for _, x := range per[c] {
				if x > t5 {
					n++
				}
			}
			pc += fmt.Sprintf(" %s %.0f%%", c, 100*float64(n)/float64(len(per[c])))
			pz += fmt.Sprintf(" %s %.1f%%", c, at(per[c], zNOK))
		}
		fmt.Printf("%-28s AUROC %.3f  R@5 %.1f%%  R@2 %.1f%%  z R %.1f%% FA %.1f%% |%s | z rule:%s\n", name, ia.AUROC(good, bad),
			100*recallAt(good, bad, 0.05), 100*recallAt(good, bad, 0.02), at(bad, zNOK), at(good, zNOK), pc, pz)
	}
	sum, larger := make([]float32, len(a)), make([]float32, len(a))
	for i := range a {
		sum[i], larger[i] = za[i]+zb[i], max(za[i], zb[i])
	}
	report("A "+scores[0], za)
	report("B "+scores[1], zb)
	report("zA + zB", sum)
	report("max(zA, zB)", larger)
}
