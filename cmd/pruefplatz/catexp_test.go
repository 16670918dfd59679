//go:build catalogueexp

// The experiment harness behind docs/catalogue.md's "what was tried"
// tables: it segments every photo of a demo catalogue once, embeds each
// upright view (and each reference photo's augmented views) once, caches
// all of it under EXP_CACHE, and scores variants of the search side by side
// with the same Index and leave-one-part-out calibration as `catalogue
// eval`. Not part of make test; run it with
//
//	go test -tags onnx,catalogueexp ./cmd/pruefplatz -run TestCatalogueExperiment -v -timeout 60m
//
// with PRUEFPLATZ_ORT_LIB set (as the Makefile sets it), and EXP_DATA (the
// demo-catalogue folder: reference/, customer/, unknown/), EXP_CACHE
// (default /tmp/catexp-cache), EXP_VARIANTS (comma-separated names of the
// reference-side variants to score; the whitening, cross-fitted and head
// rows always follow) and EXP_QUICK (only the real path's row). The cache
// holds segmentations and embeddings: delete it when UprightPart, the
// softening or the backbone changes. Shapes are measured afresh from the
// cached views on every run, so a change to opencv.PartShape needs no new
// cache. TestCatalogueShapeSpread prints each photo's shape values and mean
// part brightness for EXP_PARTS (and writes the views as PNG to EXP_PNG).
package main

import (
	"context"
	"encoding/gob"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gocv.io/x/gocv"
	"gonum.org/v1/gonum/mat"

	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

func expEnv(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

// expPhoto is one photo's segmentation, cached.
type expPhoto struct {
	Set, Part string
	View      []byte // embed.Size² BGR: the upright view, or the centre square when no part was found
	Mask      []byte // embed.Size² or nil
	Sil       []float32
	Shape     *catalogue.Shape
}

func gobLoad(path string, v any) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	return gob.NewDecoder(f).Decode(v) == nil
}

func gobSave(t *testing.T, path string, v any) {
	f, err := os.Create(path + ".tmp")
	if err != nil {
		t.Fatal(err)
	}
	if err := gob.NewEncoder(f).Encode(v); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func expSegment(t *testing.T, data, cache string) []expPhoto {
	path := filepath.Join(cache, "upright.gob")
	var out []expPhoto
	if gobLoad(path, &out) {
		return out
	}
	for _, set := range []string{"reference", "customer", "unknown"} {
		parts, imgs, err := evalFolder(filepath.Join(data, set))
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range imgs {
			img, err := opencv.DecodeImage(b, photoLimits)
			if err != nil {
				t.Fatal(err)
			}
			view, mask, small := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
			p := expPhoto{Set: set, Part: parts[i]}
			if opencv.UprightPart(img, partMargin, embed.Size, &view, &mask) {
				p.Shape = opencv.PartShape(view, mask)
				gocv.Resize(mask, &small, image.Pt(catalogue.SilhouetteGrid, catalogue.SilhouetteGrid), 0, 0, gocv.InterpolationArea)
				for _, x := range small.ToBytes() {
					p.Sil = append(p.Sil, float32(x)/255)
				}
				p.Mask = mask.ToBytes()
			} else {
				s := min(img.Rows(), img.Cols())
				r := img.Region(image.Rect((img.Cols()-s)/2, (img.Rows()-s)/2, (img.Cols()-s)/2+s, (img.Rows()-s)/2+s))
				gocv.Resize(r, &view, image.Pt(embed.Size, embed.Size), 0, 0, gocv.InterpolationArea)
				r.Close()
			}
			p.View = view.ToBytes()
			out = append(out, p)
			img.Close()
			view.Close()
			mask.Close()
			small.Close()
		}
		t.Logf("segmented %s: %d photos", set, len(imgs))
	}
	gobSave(t, path, out)
	return out
}

// expAug is a customer-like perturbation of an upright view (before the
// softening the real path applies): dst receives it.
type expAug func(src gocv.Mat, dst *gocv.Mat)

// exposure scales every channel by k (with saturation), as a phone's
// exposure does; tint scales blue and red apart.
func expLight(src gocv.Mat, dst *gocv.Mat, k, tint float64) {
	ch := gocv.Split(src)
	for i, c := range ch {
		f := k
		switch i {
		case 0:
			f *= 1 - tint
		case 2:
			f *= 1 + tint
		}
		c.ConvertToWithParams(&c, gocv.MatTypeCV8U, float32(f), 0)
	}
	gocv.Merge(ch, dst)
	for _, c := range ch {
		c.Close()
	}
}

func expBlur(src gocv.Mat, dst *gocv.Mat, s float64) {
	gocv.GaussianBlur(src, dst, image.Pt(0, 0), s, s, gocv.BorderReplicate)
}

// expBlurLight blurs by sigma, then scales the light by gain and tints it.
func expBlurLight(sigma, gain, tint float64) expAug {
	return func(src gocv.Mat, dst *gocv.Mat) {
		t := gocv.NewMat()
		defer t.Close()
		expBlur(src, &t, sigma)
		expLight(t, dst, gain, tint)
	}
}

var expAugs = map[string]expAug{
	"dark-blur":   expBlurLight(1.2, 0.72, 0),
	"bright-blur": expBlurLight(0.8, 1.28, 0),
	"warm-blur":   expBlurLight(1.6, 0.9, 0.06),
	"cool-bright": expBlurLight(1.0, 1.12, -0.05),
}

var expAugNames = []string{"dark-blur", "bright-blur", "warm-blur", "cool-bright"}

// expEmbed embeds every photo's view (or, with aug, only the reference
// photos' augmented views; others get nil) as the real path does: softened
// by viewBlur, the view and its half turn, mean, unit length.
func expEmbed(t *testing.T, pe *photoEmbedder, photos []expPhoto, cache, name string, aug expAug) [][]float32 {
	path := filepath.Join(cache, "emb-"+name+".gob")
	var out [][]float32
	if gobLoad(path, &out) {
		return out
	}
	var idx []int
	for i, p := range photos {
		if aug == nil || p.Set == "reference" {
			idx = append(idx, i)
		}
	}
	view, img, tmp, turned := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer view.Close()
	defer img.Close()
	defer tmp.Close()
	defer turned.Close()
	cur := -1
	vecs, err := pe.e.Embed(context.Background(), len(idx)*catalogueViews, func(k int, dst []float32) error {
		i, v := idx[k/catalogueViews], k%catalogueViews
		if i != cur {
			cur = i
			m, err := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8UC3, photos[i].View)
			if err != nil {
				return err
			}
			m.CopyTo(&view)
			m.Close()
			if aug != nil {
				aug(view, &tmp)
				tmp.CopyTo(&view)
			}
			if photos[i].Mask != nil {
				gocv.GaussianBlur(view, &img, image.Pt(0, 0), viewBlur, viewBlur, gocv.BorderReplicate)
			} else {
				view.CopyTo(&img)
			}
		}
		if v == 0 {
			return pe.pre.Run(img, dst)
		}
		gocv.Rotate(img, &turned, gocv.Rotate180Clockwise)
		return pe.pre.Run(turned, dst)
	})
	if err != nil {
		t.Fatal(err)
	}
	out = make([][]float32, len(photos))
	for k, i := range idx {
		e := make([]float32, embed.Dim)
		for _, w := range vecs[k*catalogueViews : (k+1)*catalogueViews] {
			for j, x := range w {
				e[j] += x
			}
		}
		embed.Normalize(e)
		out[i] = e
	}
	gobSave(t, path, out)
	t.Logf("embedded %s: %d photos", name, len(idx))
	return out
}

// expResult is one variant's row.
type expResult struct {
	top1, top5, fnic, urej float64
	thr                    float32
	wrongAcc, known        int
}

// expScore builds an index of the reference vectors (refs[i] holds one or
// more vectors of photo i; groups keep a photo's vectors together in the
// calibration, see Index.Calibrate) and scores the queries as `catalogue
// eval` does.
func expScore(photos []expPhoto, refs [][][]float32, queries [][]float32) expResult {
	return expScoreRerank(photos, refs, queries, nil)
}

// expScoreRerank is expScore with the top five parts re-ordered by
// rerank(query photo, hits) when it is not nil; "not in the catalogue"
// stays the search's own answer (its best score against the threshold).
func expScoreRerank(photos []expPhoto, refs [][][]float32, queries [][]float32, rerank func(i int, hits []catalogue.Hit)) expResult {
	dim := 0
	for _, r := range refs {
		if len(r) > 0 {
			dim = len(r[0])
		}
	}
	b := catalogue.NewBuilder(dim)
	b.Tail = catalogue.ShapeLen
	inRef := map[string]bool{}
	for i, p := range photos {
		for _, v := range refs[i] {
			b.Add(p.Part, fmt.Sprint(i), v)
			inRef[p.Part] = true
		}
	}
	ix := b.Build()
	cal := ix.Calibrate(0.05, 0.25)
	expThreshold = cal.Threshold
	var r expResult
	r.thr = cal.Threshold
	var known, unknown, top1, top5, fnic, urej int
	for i, p := range photos {
		if p.Set == "reference" || queries[i] == nil {
			continue
		}
		hits := ix.Search(queries[i], 5, nil)
		nic := len(hits) == 0 || hits[0].Score < cal.Threshold
		if rerank != nil {
			rerank(i, hits)
		}
		if !inRef[p.Part] {
			unknown++
			if nic {
				urej++
			}
			continue
		}
		known++
		if nic {
			fnic++
		}
		for k, h := range hits {
			if h.Part == p.Part {
				if k == 0 {
					top1++
				}
				top5++
			}
		}
		if len(hits) > 0 && hits[0].Part != p.Part && !nic {
			r.wrongAcc++
		}
	}
	r.known = known
	r.top1, r.top5, r.fnic, r.urej = frac(top1, known), frac(top5, known), frac(fnic, known), frac(urej, unknown)
	return r
}

// expThreshold is the threshold of the index expScoreRerank scores, for
// re-rankings that heed it.
var expThreshold float32

func meanUnit(vs ...[]float32) []float32 {
	out := make([]float32, len(vs[0]))
	for _, v := range vs {
		for j, x := range v {
			out[j] += x
		}
	}
	embed.Normalize(out)
	return out
}

func TestCatalogueExperiment(t *testing.T) {
	data := expEnv("EXP_DATA", "/tmp/cat4demo/demo-catalogue")
	cache := expEnv("EXP_CACHE", "/tmp/catexp-cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	lib := expEnv("PRUEFPLATZ_ORT_LIB", "")
	if err := onnx.Init(lib); err != nil {
		t.Fatal(err)
	}
	pe, err := openPhotoEmbedder("../../models", backbones.MobileNetV2, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pe.Close()
	photos := expSegment(t, data, cache)
	expReshape(t, photos)
	base := expEmbed(t, pe, photos, cache, "base", nil)
	augs := map[string][][]float32{}
	if os.Getenv("EXP_QUICK") == "" { // the base row needs no augmented views
		for _, n := range expAugNames {
			augs[n] = expEmbed(t, pe, photos, cache, n, expAugs[n])
		}
	}
	vec := func(i int, e []float32) []float32 {
		return catalogue.PhotoVector(e, photos[i].Sil, photos[i].Shape)
	}
	queries := make([][]float32, len(photos))
	for i, p := range photos {
		if p.Set != "reference" {
			queries[i] = vec(i, base[i])
		}
	}
	type variant struct {
		name string
		refs func() ([][][]float32, [][]float32)
	}
	plain := func(emb func(i int) [][]float32) func() ([][][]float32, [][]float32) {
		return func() ([][][]float32, [][]float32) {
			refs := make([][][]float32, len(photos))
			for i, p := range photos {
				if p.Set == "reference" {
					for _, e := range emb(i) {
						refs[i] = append(refs[i], vec(i, e))
					}
				}
			}
			return refs, queries
		}
	}
	variants := []variant{
		{"base", plain(func(i int) [][]float32 { return [][]float32{base[i]} })},
		{"aug-mean4", plain(func(i int) [][]float32 {
			vs := [][]float32{base[i]}
			for _, n := range expAugNames {
				vs = append(vs, augs[n][i])
			}
			return [][]float32{meanUnit(vs...)}
		})},
		{"aug-mean-dark-bright", plain(func(i int) [][]float32 {
			return [][]float32{meanUnit(base[i], augs["dark-blur"][i], augs["bright-blur"][i])}
		})},
		{"aug-extra4", plain(func(i int) [][]float32 {
			vs := [][]float32{base[i]}
			for _, n := range expAugNames {
				vs = append(vs, augs[n][i])
			}
			return vs
		})},
		{"aug-extra-dark-bright", plain(func(i int) [][]float32 {
			return [][]float32{base[i], augs["dark-blur"][i], augs["bright-blur"][i]}
		})},
	}
	if os.Getenv("EXP_QUICK") != "" {
		refs, qs := variants[0].refs()
		r := expScore(photos, refs, qs)
		fmt.Printf("| base | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.3f | %d of %d |\n",
			100*r.top1, 100*r.top5, 100*r.fnic, 100*r.urej, r.thr, r.wrongAcc, r.known)
		return
	}
	// Nuisance directions: the eigenvectors of the second moment of
	// (augmented − original) over the reference photos.
	var diffs [][]float32
	for i, p := range photos {
		if p.Set != "reference" {
			continue
		}
		for _, n := range expAugNames {
			d := make([]float32, embed.Dim)
			for j := range d {
				d[j] = augs[n][i][j] - base[i][j]
			}
			diffs = append(diffs, d)
		}
	}
	sym := mat.NewSymDense(embed.Dim, nil)
	for _, d := range diffs {
		for a := range embed.Dim {
			if d[a] == 0 {
				continue
			}
			for b := a; b < embed.Dim; b++ {
				sym.SetSym(a, b, sym.At(a, b)+float64(d[a]*d[b])/float64(len(diffs)))
			}
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		t.Fatal("eigen")
	}
	vals := eig.Values(nil) // ascending
	var U mat.Dense
	eig.VectorsTo(&U)
	var tr float64
	for _, v := range vals {
		tr += v
	}
	t.Logf("nuisance spectrum: top %.4g %.4g %.4g %.4g, trace %.4g", vals[len(vals)-1], vals[len(vals)-2], vals[len(vals)-3], vals[len(vals)-4], tr)
	// transform e by W = U f(vals) Uᵀ.
	transform := func(f func(v float64) float64) func(e []float32) []float32 {
		W := mat.NewDense(embed.Dim, embed.Dim, nil)
		var tmp mat.Dense
		scaled := mat.DenseCopyOf(&U)
		for c := range embed.Dim {
			k := f(vals[c])
			for r := range embed.Dim {
				scaled.Set(r, c, scaled.At(r, c)*k)
			}
		}
		tmp.Mul(scaled, U.T())
		W.Copy(&tmp)
		return projector(W)
	}
	projected := func(name string, tf func([]float32) []float32, withAug bool) variant {
		return variant{name, func() ([][][]float32, [][]float32) {
			refs := make([][][]float32, len(photos))
			qs := make([][]float32, len(photos))
			for i, p := range photos {
				if p.Set == "reference" {
					e := base[i]
					if withAug {
						e = meanUnit(base[i], augs["dark-blur"][i], augs["bright-blur"][i])
					}
					refs[i] = [][]float32{vec(i, tf(e))}
				} else {
					qs[i] = vec(i, tf(base[i]))
				}
			}
			return refs, qs
		}}
	}
	mean := tr / float64(embed.Dim)
	for _, k := range []int{2, 4, 8, 16, 32, 64} {
		cut := vals[len(vals)-k]
		variants = append(variants, projected(fmt.Sprintf("drop-top%d", k), transform(func(v float64) float64 {
			if v >= cut {
				return 0
			}
			return 1
		}), false))
	}
	for _, a := range []float64{0.3, 1, 3, 10, 30} {
		variants = append(variants, projected(fmt.Sprintf("whiten-lambda%gmean", a), transform(func(v float64) float64 {
			return 1 / math.Sqrt(v+a*mean)
		}), false))
	}
	for _, k := range []int{16, 32, 64, 128} {
		cut := vals[len(vals)-k]
		for _, a := range []float64{0.3, 1} {
			variants = append(variants, projected(fmt.Sprintf("whiten-top%d-lambda%gmean", k, a), transform(func(v float64) float64 {
				if v < cut {
					return 1 / math.Sqrt(a*mean)
				}
				return 1 / math.Sqrt(v+a*mean)
			}), false))
		}
	}
	variants = append(variants, projected("whiten-lambda3mean+augmean", transform(func(v float64) float64 {
		return 1 / math.Sqrt(v+3*mean)
	}), true))
	// A closed-set head: softmax regression on the whitened embedding and
	// the silhouette of the reference photos and their augmented views.
	wt := transform(func(v float64) float64 { return 1 / math.Sqrt(v+mean) })
	feat := func(i int, e []float32) []float32 {
		v := vec(i, wt(e))
		return v[:len(v)-catalogue.ShapeLen]
	}
	var partNames []string
	partOf := map[string]int{}
	var xs [][]float32
	var ys []int
	for i, p := range photos {
		if p.Set != "reference" {
			continue
		}
		if _, ok := partOf[p.Part]; !ok {
			partOf[p.Part] = len(partNames)
			partNames = append(partNames, p.Part)
		}
		xs = append(xs, feat(i, base[i]))
		ys = append(ys, partOf[p.Part])
		for _, n := range expAugNames {
			xs = append(xs, feat(i, augs[n][i]))
			ys = append(ys, partOf[p.Part])
		}
	}
	head := expTrainHead(xs, ys, len(partNames), 1e-3, 300)
	qfeat := map[int][]float64{}
	for i, p := range photos {
		if p.Set != "reference" {
			qfeat[i] = head(feat(i, base[i]))
		}
	}
	wrefs := func() [][][]float32 {
		refs := make([][][]float32, len(photos))
		for i, p := range photos {
			if p.Set == "reference" {
				refs[i] = [][]float32{vec(i, wt(base[i]))}
			}
		}
		return refs
	}
	wqs := make([][]float32, len(photos))
	for i, p := range photos {
		if p.Set != "reference" {
			wqs[i] = vec(i, wt(base[i]))
		}
	}
	var headRows []string
	for _, beta := range []float64{0.02, 0.05, 0.1, 0.2, 0.5, 10} {
		r := expScoreRerank(photos, wrefs(), wqs, func(i int, hits []catalogue.Hit) {
			pr := qfeat[i]
			key := func(h catalogue.Hit) float64 { return float64(h.Score) + beta*pr[partOf[h.Part]] }
			sort.SliceStable(hits, func(a, b int) bool { return key(hits[a]) > key(hits[b]) })
		})
		headRows = append(headRows, fmt.Sprintf("| head-rerank beta %g (whitened λ=mean) | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.3f | %d of %d |",
			beta, 100*r.top1, 100*r.top5, 100*r.fnic, 100*r.urej, r.thr, r.wrongAcc, r.known))
	}
	var h1, hk int
	for i, p := range photos {
		if p.Set != "customer" {
			continue
		}
		hk++
		pr := qfeat[i]
		best := 0
		for c := range pr {
			if pr[c] > pr[best] {
				best = c
			}
		}
		if partNames[best] == p.Part {
			h1++
		}
	}
	headRows = append(headRows, fmt.Sprintf("| head alone (top-1) | %.1f %% | | | | | |", 100*frac(h1, hk)))
	// Cross-fitted: W fitted on the augmented views of half the parts
	// only, each query whitened with the W fitted on the other half, so
	// no query's own part shaped its W (is the nuisance part-agnostic?).
	partNo := map[string]int{}
	for _, p := range photos {
		if _, ok := partNo[p.Part]; !ok {
			partNo[p.Part] = len(partNo)
		}
	}
	fitHalf := func(half int, k int, a float64) func([]float32) []float32 {
		sym := mat.NewSymDense(embed.Dim, nil)
		n := 0
		for i, p := range photos {
			if p.Set != "reference" || partNo[p.Part]%2 != half {
				continue
			}
			for _, nm := range expAugNames {
				n++
				for x := range embed.Dim {
					dx := float64(augs[nm][i][x] - base[i][x])
					if dx == 0 {
						continue
					}
					for y := x; y < embed.Dim; y++ {
						sym.SetSym(x, y, sym.At(x, y)+dx*float64(augs[nm][i][y]-base[i][y]))
					}
				}
			}
		}
		sym.ScaleSym(1/float64(n), sym)
		var eg mat.EigenSym
		eg.Factorize(sym, true)
		vs := eg.Values(nil)
		var tr float64
		for _, v := range vs {
			tr += v
		}
		m := tr / float64(embed.Dim)
		cut := vs[len(vs)-k]
		var UU mat.Dense
		eg.VectorsTo(&UU)
		f := func(v float64) float64 {
			if v < cut {
				return 1 / math.Sqrt(a*m)
			}
			return 1 / math.Sqrt(v+a*m)
		}
		W := mat.NewDense(embed.Dim, embed.Dim, nil)
		sc := mat.DenseCopyOf(&UU)
		for c := range embed.Dim {
			kk := f(vs[c])
			for r := range embed.Dim {
				sc.Set(r, c, sc.At(r, c)*kk)
			}
		}
		W.Mul(sc, UU.T())
		return projector(W)
	}
	for _, kk := range []int{128, 1280} {
		w0, w1 := fitHalf(0, kk, 1), fitHalf(1, kk, 1)
		// Queries of half h are scored against an index whitened by the
		// other half's W.
		var agg [2]expResult
		for h := range 2 {
			tf := w1
			if h == 1 {
				tf = w0
			}
			refs := make([][][]float32, len(photos))
			qs := make([][]float32, len(photos))
			for i, p := range photos {
				if p.Set == "reference" {
					refs[i] = [][]float32{vec(i, tf(base[i]))}
				} else if partNo[p.Part]%2 == h || p.Set == "unknown" {
					qs[i] = vec(i, tf(base[i]))
				}
			}
			agg[h] = expScore(photos, refs, qs)
		}
		k0, k1 := float64(agg[0].known), float64(agg[1].known)
		headRows = append(headRows, fmt.Sprintf("| cross-fitted whiten top%d λ=mean | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.3f/%.3f | %d of %d |",
			kk, 100*(agg[0].top1*k0+agg[1].top1*k1)/(k0+k1), 100*(agg[0].top5*k0+agg[1].top5*k1)/(k0+k1),
			100*(agg[0].fnic*k0+agg[1].fnic*k1)/(k0+k1), 50*(agg[0].urej+agg[1].urej), agg[0].thr, agg[1].thr,
			agg[0].wrongAcc+agg[1].wrongAcc, agg[0].known+agg[1].known))
	}
	want := os.Getenv("EXP_VARIANTS")
	var rows []string
	for _, v := range variants {
		if want != "" && !slices.Contains(strings.Split(want, ","), v.name) {
			continue
		}
		refs, qs := v.refs()
		r := expScore(photos, refs, qs)
		rows = append(rows, fmt.Sprintf("| %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.3f | %d of %d |",
			v.name, 100*r.top1, 100*r.top5, 100*r.fnic, 100*r.urej, r.thr, r.wrongAcc, r.known))
	}
	fmt.Println("| variant | top-1 | top-5 | false NIC | unknown rejected | threshold | wrong accepted |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range append(rows, headRows...) {
		fmt.Println(r)
	}
}

// expTrainHead fits softmax regression (weights and bias, L2 penalty l2)
// by full-batch gradient descent with Adam and returns the class
// probabilities of a feature vector.
func expTrainHead(xs [][]float32, ys []int, classes int, l2 float64, epochs int) func([]float32) []float64 {
	d := len(xs[0])
	w := make([]float64, classes*(d+1))
	m, v := make([]float64, len(w)), make([]float64, len(w))
	g := make([]float64, len(w))
	logits := make([]float64, classes)
	probs := func(x []float32, out []float64) {
		mx := math.Inf(-1)
		for c := range classes {
			row := w[c*(d+1) : (c+1)*(d+1)]
			s := row[d]
			for j, xv := range x {
				s += row[j] * float64(xv)
			}
			out[c] = s
			mx = max(mx, s)
		}
		var z float64
		for c := range out {
			out[c] = math.Exp(out[c] - mx)
			z += out[c]
		}
		for c := range out {
			out[c] /= z
		}
	}
	const lr, b1, b2 = 0.01, 0.9, 0.999
	for ep := 1; ep <= epochs; ep++ {
		for j := range g {
			g[j] = l2 * w[j]
		}
		for n, x := range xs {
			probs(x, logits)
			for c := range classes {
				e := logits[c]
				if c == ys[n] {
					e--
				}
				e /= float64(len(xs))
				row := g[c*(d+1) : (c+1)*(d+1)]
				for j, xv := range x {
					row[j] += e * float64(xv)
				}
				row[d] += e
			}
		}
		for j := range w {
			m[j] = b1*m[j] + (1-b1)*g[j]
			v[j] = b2*v[j] + (1-b2)*g[j]*g[j]
			mh := m[j] / (1 - math.Pow(b1, float64(ep)))
			vh := v[j] / (1 - math.Pow(b2, float64(ep)))
			w[j] -= lr * mh / (math.Sqrt(vh) + 1e-8)
		}
	}
	return func(x []float32) []float64 {
		out := make([]float64, classes)
		probs(x, out)
		return out
	}
}

// expReshape measures every photo's shape again from its cached view and
// mask (cheap: no GrabCut), so a change to opencv.PartShape is scored
// without segmenting again.
func expReshape(t *testing.T, photos []expPhoto) {
	for i, p := range photos {
		if p.Mask == nil {
			continue
		}
		v, err := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8UC3, p.View)
		if err != nil {
			t.Fatal(err)
		}
		m, err := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8U, p.Mask)
		if err != nil {
			t.Fatal(err)
		}
		photos[i].Shape = opencv.PartShape(v, m)
		v.Close()
		m.Close()
	}
}

// TestCatalogueShapeSpread prints each shape value's mean and spread per
// part and set (EXP_PARTS: comma-separated parts), from the cache.
func TestCatalogueShapeSpread(t *testing.T) {
	var photos []expPhoto
	if !gobLoad(filepath.Join(expEnv("EXP_CACHE", "/tmp/catexp-cache"), "upright.gob"), &photos) {
		t.Skip("no cache: run TestCatalogueExperiment first")
	}
	expReshape(t, photos)
	want := strings.Split(expEnv("EXP_PARTS", ""), ",")
	for _, part := range want {
		for _, set := range []string{"reference", "customer"} {
			var line []string
			for _, p := range photos {
				if p.Part == part && p.Set == set {
					var sum, n float64
					for j, m := range p.Mask {
						if m > 127 {
							sum += float64(p.View[3*j]) + float64(p.View[3*j+1]) + float64(p.View[3*j+2])
							n += 3
						}
					}
					line = append(line, fmt.Sprintf("%.3f b%.0f]", p.Shape.Values()[1:], sum/max(n, 1)))
					if dir := os.Getenv("EXP_PNG"); dir != "" {
						v, err := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8UC3, p.View)
						if err != nil {
							t.Fatal(err)
						}
						gocv.IMWrite(filepath.Join(dir, fmt.Sprintf("%s-%s-%d.png", part, set, len(line))), v)
						v.Close()
					}
				}
			}
			fmt.Printf("%-12s %-9s %s\n", part, set, strings.Join(line, " "))
		}
	}
}

// projector returns the map e ↦ W·e, normalised, of the whitening variants.
func projector(W mat.Matrix) func([]float32) []float32 {
	return func(e []float32) []float32 {
		x := make([]float64, embed.Dim)
		for j, v := range e {
			x[j] = float64(v)
		}
		var y mat.VecDense
		y.MulVec(W, mat.NewVecDense(embed.Dim, x))
		out := make([]float32, embed.Dim)
		for j := range out {
			out[j] = float32(y.AtVec(j))
		}
		embed.Normalize(out)
		return out
	}
}
