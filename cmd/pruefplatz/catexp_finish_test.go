//go:build catalogueexp

// The finish round in docs/catalogue.md: after the verification, geometric
// twins among the best parts (their best photos' fine maps alike) are
// re-ordered by the finish alone, measured in several ways on the cached
// upright views. TestCatalogueFinish scores the variants.
package main

import (
	"fmt"
	"image"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
)

// expFinish is a photo's finish under several normalisations: abs (the
// part's log mean grey and chromaticity), rel (the part over the table's
// median, per channel), gw (the part over the whole view's mean, per
// channel: grey world). Each is [log lightness, chroma 0, chroma 1].
type expFinish struct {
	abs, rel, gw [3]float64
	spec         float64 // log of the part's 90th over its 50th percentile grey
	ok           bool
}

func expFinishOf(p expPhoto) expFinish {
	var f expFinish
	if p.Mask == nil {
		return f
	}
	n := embed.Size
	mk, _ := gocv.NewMatFromBytes(n, n, gocv.MatTypeCV8U, p.Mask)
	defer mk.Close()
	in, out := gocv.NewMat(), gocv.NewMat()
	defer in.Close()
	defer out.Close()
	k1 := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(5, 5))
	defer k1.Close()
	k2 := gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(21, 21))
	defer k2.Close()
	gocv.Erode(mk, &in, k1)
	gocv.Dilate(mk, &out, k2)
	var ps, all [3]float64
	var pn float64
	var tab [3][]float64
	var greys []float64
	for y := range n {
		for x := range n {
			j := y*n + x
			for c := range 3 {
				all[c] += float64(p.View[3*j+c])
			}
			if in.GetUCharAt(y, x) > 127 {
				for c := range 3 {
					ps[c] += float64(p.View[3*j+c])
				}
				greys = append(greys, (float64(p.View[3*j])+float64(p.View[3*j+1])+float64(p.View[3*j+2]))/3)
				pn++
			} else if out.GetUCharAt(y, x) <= 127 {
				for c := range 3 {
					tab[c] = append(tab[c], float64(p.View[3*j+c]))
				}
			}
		}
	}
	if pn < 20 || len(tab[0]) < 20 {
		return f
	}
	var tm [3]float64
	for c := range 3 {
		sort.Float64s(tab[c])
		tm[c] = max(tab[c][len(tab[c])/2], 1)
		ps[c] = max(ps[c]/pn, 0.5)
		all[c] /= float64(n * n)
	}
	mk3 := func(v [3]float64) [3]float64 {
		s := v[0] + v[1] + v[2]
		return [3]float64{math.Log(s / 3), v[0] / s, v[1] / s}
	}
	f.abs = mk3(ps)
	sort.Float64s(greys)
	f.spec = math.Log(max(greys[len(greys)*9/10], 1) / max(greys[len(greys)/2], 1))
	f.rel = mk3([3]float64{ps[0] / tm[0], ps[1] / tm[1], ps[2] / tm[2]})
	f.gw = mk3([3]float64{ps[0] / all[0], ps[1] / all[1], ps[2] / all[2]})
	f.ok = true
	return f
}

// TestCatalogueFinish: the verification without its twin rule (as
// TestCatalogueVerify with EXP_NOFINISH scores it),
// then among the first VerifyCount parts the first one's geometric twins
// (best photos' FineSimilarity ≥ τ) compete by finish distance alone.
// EXP_TAUS, EXP_MARGINS, EXP_FEATS (abs,rel,gw,absL+relC,...), EXP_REF
// (best: the part's best photo only, all: the mean over its reference
// photos), EXP_LIST=1 lists the changed photos.
func TestCatalogueFinish(t *testing.T) {
	photos, base := expLoad(t)
	fines := make([]*catalogue.Fine, len(photos))
	fin := make([]expFinish, len(photos))
	for i, p := range photos {
		fin[i] = expFinishOf(p)
		if p.Mask == nil {
			continue
		}
		v, _ := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8UC3, p.View)
		m, _ := gocv.NewMatFromBytes(embed.Size, embed.Size, gocv.MatTypeCV8U, p.Mask)
		fines[i] = opencv.PartFine(v, m, p.Shape)
		v.Close()
		m.Close()
	}
	refs := make([][][]float32, len(photos))
	queries := make([][]float32, len(photos))
	byPart := map[string][]int{}
	var parts []string
	for i, p := range photos {
		v := catalogue.PhotoVector(base[i], p.Sil, p.Shape)
		if p.Set == "reference" {
			refs[i] = [][]float32{v}
			if byPart[p.Part] == nil {
				parts = append(parts, p.Part)
			}
			byPart[p.Part] = append(byPart[p.Part], i)
		} else {
			queries[i] = v
		}
	}
	// feat picks the three values of a named feature set: the lightness
	// from the first name, the chroma from the second ("absL+relC").
	feat := func(i int, name string) [3]float64 {
		get := func(n string) [3]float64 {
			switch n {
			case "rel":
				return fin[i].rel
			case "gw":
				return fin[i].gw
			}
			return fin[i].abs
		}
		ln, cn, _ := strings.Cut(strings.TrimSuffix(name, "+spec"), "+")
		ln = strings.TrimSuffix(ln, "L")
		cn = strings.TrimSuffix(cn, "C")
		if cn == "" {
			cn = ln
		}
		l, c := get(ln), get(cn)
		out := [3]float64{l[0], c[1], c[2]}
		if strings.HasSuffix(name, "-L") {
			out[0] = math.NaN() // chroma only
		}
		if strings.HasSuffix(name, "-C") {
			out[1], out[2] = math.NaN(), math.NaN() // lightness only
		}
		return out
	}
	// tol: the median over parts of each value's half range over the
	// part's own reference photos (as the shape's tolerances).
	tol := func(name string) [3]float64 {
		var spreads [3][]float64
		for _, part := range parts {
			lo := [3]float64{math.Inf(1), math.Inf(1), math.Inf(1)}
			hi := [3]float64{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
			for _, j := range byPart[part] {
				if !fin[j].ok {
					continue
				}
				v := feat(j, name)
				for k := range 3 {
					lo[k], hi[k] = min(lo[k], v[k]), max(hi[k], v[k])
				}
			}
			for k := range 3 {
				if hi[k] >= lo[k] {
					spreads[k] = append(spreads[k], (hi[k]-lo[k])/2)
				}
			}
		}
		var out [3]float64
		for k := range 3 {
			s := spreads[k]
			if len(s) == 0 {
				continue
			}
			sort.Float64s(s)
			out[k] = max(s[len(s)/2], 1e-4)
		}
		return out
	}
	env := func(k, d string) []string { return strings.Split(expEnv(k, d), ",") }
	floats := func(k, d string) []float32 {
		var out []float32
		for _, s := range env(k, d) {
			v, _ := strconv.ParseFloat(s, 32)
			out = append(out, float32(v))
		}
		return out
	}
	list := os.Getenv("EXP_LIST") != ""
	simMemo := map[[2]int]float32{}
	fineSim := func(a, b int) float32 {
		if v, ok := simMemo[[2]int{a, b}]; ok {
			return v
		}
		v := catalogue.FineSimilarity(fines[a], fines[b])
		simMemo[[2]int{a, b}] = v
		return v
	}
	verified := map[int][]catalogue.Hit{}
	for _, name := range env("EXP_FEATS", "abs,rel,gw,abs-C,abs-L,rel-L,absL+relC,absL+gwC") {
		tl := tol(name)
		var specTol float64
		{
			var sp []float64
			for _, part := range parts {
				lo, hi := math.Inf(1), math.Inf(-1)
				for _, j := range byPart[part] {
					if fin[j].ok {
						lo, hi = min(lo, fin[j].spec), max(hi, fin[j].spec)
					}
				}
				if hi >= lo {
					sp = append(sp, (hi-lo)/2)
				}
			}
			sort.Float64s(sp)
			specTol = max(sp[len(sp)/2], 1e-4)
		}
		dist := func(q int, refsOf []int) float64 {
			qv := feat(q, name)
			var mean [3]float64
			var cnt float64
			for _, j := range refsOf {
				if !fin[j].ok {
					continue
				}
				v := feat(j, name)
				for k := range 3 {
					mean[k] += v[k]
				}
				cnt++
			}
			if cnt == 0 || !fin[q].ok {
				return math.NaN()
			}
			var d float64
			for k := range 3 {
				if math.IsNaN(qv[k]) {
					continue
				}
				d += math.Abs(qv[k]-mean[k]/cnt) / tl[k]
			}
			if strings.HasSuffix(name, "+spec") {
				var ms float64
				for _, j := range refsOf {
					if fin[j].ok {
						ms += fin[j].spec
					}
				}
				d += math.Abs(fin[q].spec-ms/cnt) / specTol
			}
			return d
		}
		for _, refMode := range env("EXP_REF", "best,all") {
			for _, tau := range floats("EXP_TAUS", "0.6,0.7,0.8,0.9") {
				for _, margin := range floats("EXP_MARGINS", "0,1,2") {
					changed := 0
					r := expScoreRerank(photos, refs, queries, func(i int, hits []catalogue.Hit) {
						if v, ok := verified[i]; ok {
							copy(hits, v)
						} else {
							// The verification without its twin rule.
							if m := catalogue.VerifyCount(hits, expThreshold); m >= 2 && fines[i] != nil {
								key := map[string]float32{}
								for _, h := range hits[:m] {
									j, _ := strconv.Atoi(h.Photo)
									key[h.Part] = h.Score + catalogue.VerifyWeight*catalogue.VerifySimilarity(fines[i], fines[j])
								}
								sort.SliceStable(hits[:m], func(a, b int) bool { return key[hits[a].Part] > key[hits[b].Part] })
							}
							verified[i] = append([]catalogue.Hit(nil), hits...)
						}
						n := catalogue.VerifyCount(hits, expThreshold)
						if n < 2 || fines[i] == nil {
							return
						}
						j0, _ := strconv.Atoi(hits[0].Photo)
						of := func(h catalogue.Hit) []int {
							if refMode == "all" {
								return byPart[h.Part]
							}
							j, _ := strconv.Atoi(h.Photo)
							return []int{j}
						}
						d0 := dist(i, of(hits[0]))
						if math.IsNaN(d0) {
							return
						}
						bestK, bestD := 0, d0
						for k := 1; k < n; k++ {
							jk, _ := strconv.Atoi(hits[k].Photo)
							if fineSim(j0, jk) < tau {
								continue
							}
							if d := dist(i, of(hits[k])); d < bestD-float64(margin) {
								bestK, bestD = k, d
							}
						}
						if list && photos[i].Set == "customer" && hits[bestK].Part != photos[i].Part {
							fmt.Printf("  wrong %d %-12s first %s:", i, photos[i].Part, hits[bestK].Part)
							for k := range n {
								jk, _ := strconv.Atoi(hits[k].Photo)
								fmt.Printf(" %s d %.1f twin %.2f;", hits[k].Part, dist(i, of(hits[k])), fineSim(j0, jk))
							}
							fmt.Println()
						}
						if bestK > 0 {
							changed++
							if list && photos[i].Set == "customer" {
								fmt.Printf("  %d %-12s %s (%.2f) -> %s (%.2f)\n", i, photos[i].Part, hits[0].Part, d0, hits[bestK].Part, bestD)
							}
							h := hits[bestK]
							copy(hits[1:bestK+1], hits[:bestK])
							hits[0] = h
						}
					})
					fmt.Printf("| finish %s ref %s τ %g margin %g | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %d changed | tol %.3f %.4f %.4f |\n",
						name, refMode, tau, margin, 100*r.top1, 100*r.top5, 100*r.fnic, 100*r.urej, changed, tl[0], tl[1], tl[2])
				}
			}
		}
	}
}
