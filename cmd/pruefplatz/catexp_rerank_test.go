//go:build catalogueexp

// The experiment harness of the verification round in docs/catalogue.md
// (re-ordering the search's best parts by finer maps of the upright
// part), on the cache catexp_test.go fills. TestCatalogueVerify scores the
// real path's opencv.PartFine and catalogue.Verify (its row reproduces
// `catalogue eval`) and its variants; TestCatalogueRerank the first designs
// with the harness's own maps; TestCatalogueFailures writes contact sheets
// of the wrong first answers; TestCatalogueLightness prints each part's
// lightness per set.
package main

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

// expLoad loads the cached segmentations and base embeddings (running the
// experiment once fills the cache).
func expLoad(t *testing.T) ([]expPhoto, [][]float32) {
	data := expEnv("EXP_DATA", "/tmp/cat4demo/demo-catalogue")
	cache := expEnv("EXP_CACHE", "/tmp/catexp-cache")
	if err := onnx.Init(expEnv("PRUEFPLATZ_ORT_LIB", "")); err != nil {
		t.Fatal(err)
	}
	pe, err := openPhotoEmbedder("../../models", backbones.MobileNetV2, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pe.Close()
	photos := expSegment(t, data, cache)
	expReshape(t, photos)
	return photos, expEmbed(t, pe, photos, cache, "base", nil)
}

// TestCatalogueFailures lists the wrong first answers and writes a contact
// sheet per failure to EXP_PNG: query, the wrong part's best photo, the
// true part's photos.
func TestCatalogueFailures(t *testing.T) {
	photos, base := expLoad(t)
	refs := make([][][]float32, len(photos))
	for i, p := range photos {
		if p.Set == "reference" {
			refs[i] = [][]float32{catalogue.PhotoVector(base[i], p.Sil, p.Shape)}
		}
	}
	b := catalogue.NewBuilder(catalogue.VectorLen(embed.Dim))
	b.Tail = catalogue.ShapeLen
	byPart := map[string][]int{}
	for i, p := range photos {
		if p.Set == "reference" {
			b.Add(p.Part, fmt.Sprint(i), refs[i][0])
			byPart[p.Part] = append(byPart[p.Part], i)
		}
	}
	ix := b.Build()
	dir := os.Getenv("EXP_PNG")
	for i, p := range photos {
		if p.Set != "customer" {
			continue
		}
		hits := ix.Search(catalogue.PhotoVector(base[i], p.Sil, p.Shape), 5, nil)
		if hits[0].Part == p.Part {
			continue
		}
		rank := -1
		for k, h := range hits {
			if h.Part == p.Part {
				rank = k
			}
		}
		fmt.Printf("%d %-12s -> %-12s (%.3f) true rank %d", i, p.Part, hits[0].Part, hits[0].Score, rank)
		if rank >= 0 {
			fmt.Printf(" (%.3f)", hits[rank].Score)
		}
		fmt.Println()
		if dir == "" {
			continue
		}
		var row []int
		row = append(row, i)
		var wrongPhoto int
		fmt.Sscan(hits[0].Photo, &wrongPhoto)
		row = append(row, wrongPhoto)
		row = append(row, byPart[p.Part]...)
		sheet := gocv.NewMatWithSize(embed.Size, embed.Size*len(row), gocv.MatTypeCV8UC3)
		for k, j := range row {
			v, _ := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8UC3, photos[j].View)
			r := sheet.Region(image.Rect(k*embed.Size, 0, (k+1)*embed.Size, embed.Size))
			v.CopyTo(&r)
			r.Close()
			v.Close()
		}
		gocv.PutText(&sheet, p.Part, image.Pt(4, 14), gocv.FontHersheySimplex, 0.45, color.RGBA{255, 0, 0, 0}, 1)
		gocv.PutText(&sheet, hits[0].Part, image.Pt(embed.Size+4, 14), gocv.FontHersheySimplex, 0.45, color.RGBA{255, 0, 0, 0}, 1)
		gocv.IMWrite(filepath.Join(dir, fmt.Sprintf("fail-%03d-%s.png", i, p.Part)), sheet)
		sheet.Close()
	}
}

// expMap is a photo's fine map for geometric verification: side×side
// values, or nil when no part was found.
type expMap []float32

// expFine resizes a 224×224 single-channel float map to side×side (area).
func expFine(src []float32, side int) expMap {
	m, _ := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV32F, f32bytes(src))
	defer m.Close()
	d := gocv.NewMat()
	defer d.Close()
	gocv.Resize(m, &d, image.Pt(side, side), 0, 0, gocv.InterpolationArea)
	out := make(expMap, side*side)
	for y := range side {
		for x := range side {
			out[y*side+x] = d.GetFloatAt(y, x)
		}
	}
	return out
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		u := math.Float32bits(x)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

// expMaps computes the fine maps of every photo: kind "mask" (the
// segmentation), "partness" (mask and nearer the part's colour than the
// table's), "edge" (gradient magnitude of the softened grey view inside
// the dilated mask).
func expMaps(photos []expPhoto, kind string, side int) []expMap {
	out := make([]expMap, len(photos))
	n := embed.Size * embed.Size
	for i, p := range photos {
		if p.Mask == nil {
			continue
		}
		src := make([]float32, n)
		switch kind {
		case "mask":
			for j, m := range p.Mask {
				src[j] = float32(m) / 255
			}
		case "partness":
			var pc, tc [3]float64
			var pn, tn float64
			for j, m := range p.Mask {
				for c := range 3 {
					if m > 127 {
						pc[c] += float64(p.View[3*j+c])
					} else {
						tc[c] += float64(p.View[3*j+c])
					}
				}
				if m > 127 {
					pn++
				} else {
					tn++
				}
			}
			for c := range 3 {
				pc[c] /= max(pn, 1)
				tc[c] /= max(tn, 1)
			}
			for j, m := range p.Mask {
				if m <= 127 {
					continue
				}
				var dp, dt float64
				for c := range 3 {
					x := float64(p.View[3*j+c])
					dp += (x - pc[c]) * (x - pc[c])
					dt += (x - tc[c]) * (x - tc[c])
				}
				if dp < dt {
					src[j] = 1
				}
			}
		case "edge", "inner":
			v, _ := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8UC3, p.View)
			g, gx, gy, mag := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
			gocv.CvtColor(v, &g, gocv.ColorBGRToGray)
			gocv.GaussianBlur(g, &g, image.Pt(0, 0), 1.5, 1.5, gocv.BorderReplicate)
			gocv.Sobel(g, &gx, gocv.MatTypeCV32F, 1, 0, 3, 1, 0, gocv.BorderReplicate)
			gocv.Sobel(g, &gy, gocv.MatTypeCV32F, 0, 1, 3, 1, 0, gocv.BorderReplicate)
			gocv.Magnitude(gx, gy, &mag)
			mk, _ := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8U, p.Mask)
			dm := gocv.NewMat()
			kernel := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(9, 9))
			if kind == "inner" {
				// Only the edges inside the outline (holes filled) away
				// from it: a hole's rim, not the outline a look-alike
				// shares.
				filled := gocv.Zeros(embed.Size, embed.Size, gocv.MatTypeCV8U)
				cs := gocv.FindContours(mk, gocv.RetrievalExternal, gocv.ChainApproxSimple)
				gocv.DrawContours(&filled, cs, -1, color.RGBA{255, 255, 255, 0}, -1)
				cs.Close()
				gocv.Erode(filled, &dm, kernel)
				filled.Close()
			} else {
				gocv.Dilate(mk, &dm, kernel)
			}
			var s float64
			var cnt float64
			for y := range embed.Size {
				for x := range embed.Size {
					j := y*embed.Size + x
					if dm.GetUCharAt(y, x) > 127 {
						src[j] = mag.GetFloatAt(y, x)
						s += float64(src[j])
						cnt++
					}
				}
			}
			if s > 0 {
				// Scale-free in the light: divide by the mean edge strength.
				for j := range src {
					src[j] = float32(float64(src[j]) * cnt / s)
				}
			}
			for _, m := range []gocv.Mat{v, g, gx, gy, mag, mk, dm, kernel} {
				m.Close()
			}
		}
		out[i] = expFine(src, side)
	}
	return out
}

// expNCC is catalogue.BestNCC on the harness's maps.
func expNCC(a, b expMap, side, sh int) float32 { return catalogue.BestNCC(a, b, side, sh) }

// TestCatalogueRerank scores geometric verification re-rankings of the
// search's top 5 parts: each part's best NCC of fine maps with the query's,
// added as gamma·(ncc) to the score for the order only.
func TestCatalogueRerank(t *testing.T) {
	photos, base := expLoad(t)
	vec := func(i int) []float32 { return catalogue.PhotoVector(base[i], photos[i].Sil, photos[i].Shape) }
	refs := make([][][]float32, len(photos))
	queries := make([][]float32, len(photos))
	byPart := map[string][]int{}
	for i, p := range photos {
		if p.Set == "reference" {
			refs[i] = [][]float32{vec(i)}
			byPart[p.Part] = append(byPart[p.Part], i)
		} else {
			queries[i] = vec(i)
		}
	}
	r := expScore(photos, refs, queries)
	fmt.Printf("| base | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.3f | %d of %d |\n",
		100*r.top1, 100*r.top5, 100*r.fnic, 100*r.urej, r.thr, r.wrongAcc, r.known)
	kinds := []string{"mask", "partness", "edge"}
	if k := os.Getenv("EXP_KINDS"); k != "" {
		kinds = strings.Split(k, ",")
	}
	sides := []int{64}
	if s := os.Getenv("EXP_SIDES"); s != "" {
		sides = nil
		for _, f := range strings.Split(s, ",") {
			var v int
			fmt.Sscan(f, &v)
			sides = append(sides, v)
		}
	}
	topK := 5
	if s := os.Getenv("EXP_TOPK"); s != "" {
		fmt.Sscan(s, &topK)
	}
	bestOnly := os.Getenv("EXP_BESTPHOTO") != ""
	for _, kind := range kinds {
		for _, side := range sides {
			maps := expMaps(photos, kind, side)
			sh := max(1, side/32)
			cache := map[[2]int]float32{}
			rotStep := 0.0
			if s := os.Getenv("EXP_ROT"); s != "" {
				fmt.Sscan(s, &rotStep)
			}
			round := func(i int) bool {
				if os.Getenv("EXP_ROTALL") != "" {
					return true
				}
				return photos[i].Shape != nil && photos[i].Shape.Elongation > 0.8
			}
			sim := func(q int, part string, photo string) float32 {
				best := float32(-1)
				for _, j := range byPart[part] {
					if bestOnly && fmt.Sprint(j) != photo {
						continue
					}
					k := [2]int{q, j}
					v, ok := cache[k]
					if !ok {
						v = -1
						if maps[q] != nil && maps[j] != nil {
							v = expNCC(maps[q], maps[j], side, sh)
							if rotStep > 0 && round(q) && round(j) {
								for a := rotStep; a < 180; a += rotStep {
									v = max(v, expNCC(expRotate(maps[q], side, a), maps[j], side, sh))
								}
							}
						}
						cache[k] = v
					}
					best = max(best, v)
				}
				return best
			}
			for _, gamma := range []float32{0.05, 0.1, 0.2, 0.4, 1, 10} {
				r := expScoreRerank(photos, refs, queries, func(i int, hits []catalogue.Hit) {
					n := min(topK, len(hits))
					key := make(map[string]float32, n)
					for _, h := range hits[:n] {
						key[h.Part] = h.Score + gamma*sim(i, h.Part, h.Photo)
					}
					sort.SliceStable(hits[:n], func(a, b int) bool { return key[hits[a].Part] > key[hits[b].Part] })
				})
				fmt.Printf("| %s %d γ %g | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.3f | %d of %d |\n",
					kind, side, gamma, 100*r.top1, 100*r.top5, 100*r.fnic, 100*r.urej, r.thr, r.wrongAcc, r.known)
			}
		}
	}
}

// expRotate turns a side×side map by deg degrees about its centre.
func expRotate(a expMap, side int, deg float64) expMap {
	m, _ := gocv.NewMatFromBytes(side, side, gocv.MatTypeCV32F, f32bytes(a))
	defer m.Close()
	r := gocv.GetRotationMatrix2D(image.Pt(side/2, side/2), deg, 1)
	defer r.Close()
	d := gocv.NewMat()
	defer d.Close()
	gocv.WarpAffine(m, &d, r, image.Pt(side, side))
	out := make(expMap, side*side)
	for y := range side {
		for x := range side {
			out[y*side+x] = d.GetFloatAt(y, x)
		}
	}
	return out
}

// TestCatalogueVerify scores the real path's verification
// (opencv.PartFine, catalogue.Verify) from the cache: its row must
// reproduce `catalogue eval` (EXP_NOFINISH=1: the verification before the
// finish's twin rule). With EXP_ALLPHOTOS each part's best fine
// similarity over all its reference photos is used instead of its best
// photo's.
func TestCatalogueVerify(t *testing.T) {
	photos, base := expLoad(t)
	fines := make([]*catalogue.Fine, len(photos))
	for i, p := range photos {
		if p.Mask == nil {
			continue
		}
		v, _ := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8UC3, p.View)
		m, _ := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8U, p.Mask)
		fines[i] = opencv.PartFine(v, m, p.Shape)
		v.Close()
		m.Close()
		if os.Getenv("EXP_FINE") == "sqrt" && fines[i] != nil {
			for k, x := range fines[i].Edges {
				fines[i].Edges[k] = float32(math.Sqrt(float64(x)))
			}
		}
	}
	w := float32(catalogue.VerifyWeight)
	if s := os.Getenv("EXP_W"); s != "" {
		fmt.Sscan(s, &w)
	}
	refs := make([][][]float32, len(photos))
	queries := make([][]float32, len(photos))
	byPart := map[string][]int{}
	for i, p := range photos {
		v := catalogue.PhotoVector(base[i], p.Sil, p.Shape)
		if p.Set == "reference" {
			refs[i] = [][]float32{v}
			byPart[p.Part] = append(byPart[p.Part], i)
		} else {
			queries[i] = v
		}
	}
	all := os.Getenv("EXP_ALLPHOTOS") != ""
	var plus []expMap
	if k := os.Getenv("EXP_PLUS"); k != "" {
		plus = expMaps(photos, k, catalogue.FineSide)
	}
	plusW := float32(-1) // EXP_PLUSW: the second map's NCC added at this weight (else averaged)
	if s := os.Getenv("EXP_PLUSW"); s != "" {
		fmt.Sscan(s, &plusW)
	}
	fineSim := func(i, j int) float32 {
		s := catalogue.VerifySimilarity(fines[i], fines[j])
		if plus != nil && plus[i] != nil && plus[j] != nil {
			if plusW >= 0 {
				s += plusW * expNCC(plus[i], plus[j], catalogue.FineSide, 2)
			} else {
				s = (s + expNCC(plus[i], plus[j], catalogue.FineSide, 2)) / 2
			}
		}
		return s
	}
	r := expScoreRerank(photos, refs, queries, func(i int, hits []catalogue.Hit) {
		if os.Getenv("EXP_LIST") != "" && photos[i].Set == "customer" {
			defer func(before []catalogue.Hit) {
				p := photos[i].Part
				if (before[0].Part == p) != (hits[0].Part == p) || hits[0].Part != p {
					fmt.Printf("  %d %-12s search %-12s verified %-12s:", i, p, before[0].Part, hits[0].Part)
					for _, h := range before {
						j, _ := strconv.Atoi(h.Photo)
						fmt.Printf(" %s %.3f/%.3f", h.Part, h.Score, catalogue.VerifySimilarity(fines[i], fines[j]))
					}
					fmt.Println()
					// The final order with each part's finish distance
					// to the query and twin similarity to the first.
					j0, _ := strconv.Atoi(hits[0].Photo)
					fmt.Printf("      finish:")
					for _, h := range hits {
						j, _ := strconv.Atoi(h.Photo)
						fmt.Printf(" %s d %.1f twin %.2f;", h.Part, catalogue.FinishDistance(fines[i], fines[j]), catalogue.FineSimilarity(fines[j0], fines[j]))
					}
					fmt.Println()
				}
			}(slices.Clone(hits))
		}
		best := map[string]float32{}
		for _, h := range hits {
			b := float32(-1)
			for _, j := range byPart[h.Part] {
				if !all && fmt.Sprint(j) != h.Photo {
					continue
				}
				b = max(b, fineSim(i, j))
			}
			best[h.Part] = b
		}
		if fines[i] == nil {
			return
		}
		if tau := os.Getenv("EXP_TWIN"); tau != "" && !all {
			// Geometric twins among the candidates (their best photos'
			// fine maps alike) share the best fine term, so the search's
			// score (the finish) decides between them.
			var th float32
			fmt.Sscan(tau, &th)
			n := min(catalogue.VerifyTop, len(hits))
			shared := map[string]float32{}
			for a := range n {
				ja, _ := strconv.Atoi(hits[a].Photo)
				shared[hits[a].Part] = best[hits[a].Part]
				for b := range n {
					jb, _ := strconv.Atoi(hits[b].Photo)
					if a != b && catalogue.FineSimilarity(fines[ja], fines[jb]) >= th {
						shared[hits[a].Part] = max(shared[hits[a].Part], best[hits[b].Part])
					}
				}
			}
			best = shared
		}
		// As catalogue.Verify: an accepted answer re-orders only the parts
		// at or above the threshold (EXP_NOFLOOR: the first five always).
		n := catalogue.VerifyCount(hits, expThreshold)
		if os.Getenv("EXP_NOFLOOR") != "" {
			n = min(catalogue.VerifyTop, len(hits))
		}
		sort.SliceStable(hits[:n], func(a, b int) bool {
			return hits[a].Score+w*best[hits[a].Part] > hits[b].Score+w*best[hits[b].Part]
		})
		// As catalogue.Verify: the first part's geometric twins compete
		// by finish (EXP_NOFINISH: not).
		// (EXP_TWINBELOW: of an answer, the first five's twins compete
		// also below the threshold.)
		if os.Getenv("EXP_NOFINISH") == "" {
			if os.Getenv("EXP_TWINBELOW") != "" && hits[0].Score >= expThreshold {
				n = min(catalogue.VerifyTop, len(hits))
			}
			refs := make([]*catalogue.Fine, n)
			for k, h := range hits[:n] {
				j, _ := strconv.Atoi(h.Photo)
				refs[k] = fines[j]
			}
			if k := catalogue.FinishTwin(fines[i], refs); k > 0 {
				h := hits[k]
				copy(hits[1:k+1], hits[:k])
				hits[0] = h
			}
		}
	})
	fmt.Printf("| verify %s w %g (all photos %v) | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.3f | %d of %d |\n",
		os.Getenv("EXP_FINE"), w, all, 100*r.top1, 100*r.top5, 100*r.fnic, 100*r.urej, r.thr, r.wrongAcc, r.known)
}

// TestCatalogueLightness prints each part's mean grey (of its pixels in
// the upright view) over its reference and its customer photos.
func TestCatalogueLightness(t *testing.T) {
	var photos []expPhoto
	if !gobLoad(filepath.Join(expEnv("EXP_CACHE", "/tmp/catexp-cache"), "upright.gob"), &photos) {
		t.Skip("no cache")
	}
	type rng struct{ lo, hi float64 }
	stat := map[string]map[string]*rng{}
	var order []string
	for _, p := range photos {
		if p.Mask == nil {
			continue
		}
		var sum, n, tsum, tn float64
		for j, m := range p.Mask {
			g := (float64(p.View[3*j]) + float64(p.View[3*j+1]) + float64(p.View[3*j+2])) / 3
			if m > 127 {
				sum, n = sum+g, n+1
			} else {
				tsum, tn = tsum+g, tn+1
			}
		}
		b := math.Log(sum / max(n, 1))
		if stat[p.Part] == nil {
			stat[p.Part] = map[string]*rng{}
			order = append(order, p.Part)
		}
		r := stat[p.Part][p.Set]
		if r == nil {
			r = &rng{b, b}
			stat[p.Part][p.Set] = r
		}
		r.lo, r.hi = min(r.lo, b), max(r.hi, b)
	}
	for _, part := range order {
		fmt.Printf("%-12s", part)
		for _, set := range []string{"reference", "customer", "unknown"} {
			if r := stat[part][set]; r != nil {
				fmt.Printf("  %s %.2f–%.2f (%.0f–%.0f)", set[:3], r.lo, r.hi, math.Exp(r.lo), math.Exp(r.hi))
			}
		}
		fmt.Println()
	}
}
