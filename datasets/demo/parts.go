package demo

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gocv.io/x/gocv"
)

// PartClasses are the spare parts of demo-parts, in label order.
var PartClasses = []string{"angle_bracket", "ball_bearing", "hex_bolt", "hex_nut", "spring", "washer"}

// DefectClasses are the classes of demo-defects (one flange, OK or defective).
var DefectClasses = []string{"crack", "dent", "missing_hole", "ok", "scratch"}

// partDef is a part's geometry: rb is its bounding radius in part units and
// build draws it into a sprite whose xform is already set.
type partDef struct {
	rb    float64
	build func(sp *sprite)
}

// makeSprite builds a part at scale (pixels per part unit) and rotation.
func makeSprite(pd partDef, scale, angle float64) *sprite {
	size := int(math.Ceil(2*pd.rb*scale)) + 12
	sp := newSprite(size, newXform(float64(size)/2, float64(size)/2, scale, angle))
	pd.build(sp)
	return sp
}

func disc(t xform, m *gocv.Mat, x, y, r float64, v uint8) { fillCircle(m, t.p(x, y), r*t.s, v) }

func poly(t xform, m *gocv.Mat, v uint8, pts ...vec) {
	q := make([]vec, len(pts))
	for i, p := range pts {
		q[i] = t.p(p.X, p.Y)
	}
	fillPoly(m, q, v)
}

func rect(t xform, m *gocv.Mat, x0, y0, x1, y1 float64, v uint8) {
	poly(t, m, v, vec{x0, y0}, vec{x1, y0}, vec{x1, y1}, vec{x0, y1})
}

// sparePart returns the geometry of one spare part of the class. Details that
// vary between parts of a class (proportions, thread pitch, coil count) come
// from rng; every class spans about the same range of sizes.
func sparePart(class string, rng *rand.Rand) (partDef, error) {
	u := rng.Float64
	switch class {
	case "washer":
		outer := 58 + 8*u()
		inner := outer * (0.36 + 0.16*u())
		thick := 2.5 + 2*u()
		phase := u() * 6
		return partDef{rb: outer, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: thick, albedo: 1, draw: func(m *gocv.Mat) {
				disc(t, m, 0, 0, outer, 255)
				disc(t, m, 0, 0, inner, 0)
			}, mod: func(x, y, d float64) float64 { return 0.012 * math.Sin(math.Hypot(x, y)*1.3+phase) }})
		}}, nil
	case "hex_nut":
		R := 56 + 8*u()
		hole := R * (0.42 + 0.08*u())
		rot := u() * math.Pi / 3
		return partDef{rb: R, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 4, albedo: 1, draw: func(m *gocv.Mat) {
				var hex []vec
				for k := range 6 {
					a := rot + float64(k)*math.Pi/3
					hex = append(hex, vec{R * math.Cos(a), R * math.Sin(a)})
				}
				poly(t, m, 255, hex...)
				disc(t, m, 0, 0, hole, 0)
			}, mod: func(x, y, d float64) float64 {
				r := math.Hypot(x, y)
				h := 0.0
				if c := 0.88 * R; r > c { // chamfered corners
					h -= (r - c) * 0.9
				}
				if c := hole * 1.22; r < c { // countersink and thread
					h -= (c-r)*1.1 + 0.5*math.Sin(r*2.2)
				}
				return h
			}})
		}}, nil
	case "hex_bolt":
		L := 150 + 28*u()
		hf := 46 + 10*u()            // across flats
		hh := hf * (0.36 + 0.08*u()) // head height, along the axis
		rs := hf * (0.30 + 0.05*u()) // shank radius
		pitch := 4.5 + 2.5*u()
		thread := L * (0.25 + 0.5*u()) // threaded length from the tip
		x0 := -L / 2
		half := hf / math.Sqrt(3) // lying on a flat, the head shows its corners at the sides
		return partDef{rb: math.Hypot(L/2, half), build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 1.5, albedo: 1, draw: func(m *gocv.Mat) {
				rect(t, m, x0, -half, x0+hh, half, 255)
			}, mod: func(x, y, d float64) float64 {
				ay := math.Abs(y)
				if ay < half/2 {
					return hf * 0.75
				}
				return hf*0.75 - (ay-half/2)*math.Sqrt(3)
			}})
			sp.add(layer{bevel: rs, albedo: 1, draw: func(m *gocv.Mat) {
				rect(t, m, x0+hh-3, -rs, L/2, rs, 255)
			}, mod: func(x, y, d float64) float64 {
				if x < L/2-thread {
					return 0
				}
				return 1.3 * math.Sin(2*math.Pi*(x-0.18*y)/pitch)
			}})
		}}, nil
	case "spring":
		L := 145 + 30*u()
		R := 24 + 10*u()
		wire := 3.2 + 2*u()
		coils := 6 + rng.IntN(4)
		phase := u() * math.Pi
		return partDef{rb: math.Hypot(L/2, R+wire), build: func(sp *sprite) {
			t := sp.t
			// The helix seen from above: the half turns on top occlude
			// the ones underneath.
			half := func(top bool) func(m *gocv.Mat) {
				return func(m *gocv.Mat) {
					n := coils * 48
					for k := range n {
						a0 := phase + 2*math.Pi*float64(k)/48
						a1 := phase + 2*math.Pi*float64(k+1)/48
						if (math.Sin((a0+a1)/2) >= 0) != top {
							continue
						}
						p0 := vec{-L/2 + wire + (L-2*wire)*float64(k)/float64(n), R * math.Cos(a0)}
						p1 := vec{-L/2 + wire + (L-2*wire)*float64(k+1)/float64(n), R * math.Cos(a1)}
						thickLine(m, t.p(p0.X, p0.Y), t.p(p1.X, p1.Y), 2*wire*t.s, 255)
					}
				}
			}
			sp.add(layer{bevel: wire, albedo: 0.65, draw: half(false)}) // in the shade of the top turns
			sp.add(layer{base: R, bevel: wire, albedo: 1, draw: half(true)})
		}}, nil
	case "angle_bracket":
		A := 104 + 30*u()
		B := A * (0.75 + 0.25*u())
		w := 30 + 10*u()
		hole := 5 + 3*u()
		c := A * 0.38
		rib := u() < 0.6
		return partDef{rb: math.Hypot(A-c, w-c) + 4, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 2.5, albedo: 1, draw: func(m *gocv.Mat) {
				poly(t, m, 255, vec{-c, -c}, vec{A - c, -c}, vec{A - c, w - c}, vec{w - c, w - c}, vec{w - c, B - c}, vec{-c, B - c})
				for _, f := range []float64{0.55, 0.85} {
					disc(t, m, -c+A*f, -c+w/2, hole, 0)
					disc(t, m, -c+w/2, -c+B*f, hole, 0)
				}
			}})
			if rib { // a pressed stiffening rib across the corner
				sp.add(layer{base: 1, bevel: 4, albedo: 1, draw: func(m *gocv.Mat) {
					thickLine(m, t.p(-c+w*0.35, -c+w*1.25), t.p(-c+w*1.25, -c+w*0.35), w*0.35*t.s, 255)
				}})
			}
		}}, nil
	case "ball_bearing":
		R := 56 + 8*u()
		bore := R * (0.33 + 0.08*u())
		outerIn := R * 0.8
		innerOut := bore + (outerIn-bore)*0.3
		open := u() < 0.35
		balls := 7 + rng.IntN(4)
		ba := u() * math.Pi
		return partDef{rb: R, build: func(sp *sprite) {
			t := sp.t
			ring := func(r0, r1 float64) func(m *gocv.Mat) {
				return func(m *gocv.Mat) {
					disc(t, m, 0, 0, r1, 255)
					disc(t, m, 0, 0, r0, 0)
				}
			}
			sp.add(layer{bevel: 4, albedo: 1, draw: ring(outerIn, R)})
			sp.add(layer{bevel: 3.5, albedo: 1, draw: ring(bore, innerOut)})
			if open {
				gap := outerIn - innerOut
				pr := (outerIn + innerOut) / 2
				sp.add(layer{bevel: 1, albedo: 0.55, draw: ring(innerOut, outerIn)})
				sp.add(layer{bevel: gap * 0.42, albedo: 1, draw: func(m *gocv.Mat) {
					for k := range balls {
						a := ba + 2*math.Pi*float64(k)/float64(balls)
						disc(t, m, pr*math.Cos(a), pr*math.Sin(a), gap*0.42, 255)
					}
				}})
			} else {
				mid := (outerIn + innerOut) / 2
				sp.add(layer{base: 0.5, bevel: 1.5, albedo: 0.85, draw: ring(innerOut, outerIn),
					mod: func(x, y, d float64) float64 {
						if math.Hypot(x, y) > mid {
							return 0.8
						}
						return 0
					}})
			}
		}}, nil
	}
	return partDef{}, fmt.Errorf("demo: unknown part class %q", class)
}

// Flange geometry in part units; the flange's radius is 100.
const (
	flangeR    = 100.0
	flangeBore = 28.0
	flangeHub  = 46.0
	flangePCD  = 70.0 // radius of the bolt-hole circle
)

// flangeMetal is the one finish the defect station's flanges come in: a
// station inspects one product, not a catalogue.
var flangeMetal = metals[1]

// flange returns the demo-defects part: a turned disc with a raised hub and
// four bolt holes, OK or with one small defect that covers a few percent of
// its area. Marks are drawn with a width in pixels so they stay visible.
func flange(class string, rng *rand.Rand) (partDef, error) {
	u := rng.Float64
	holeR := 10 + 2*u()
	phase := u() * 6
	missing := rng.IntN(4)
	holes := make([]vec, 4)
	for k := range holes {
		a := math.Pi/4 + float64(k)*math.Pi/2
		holes[k] = vec{flangePCD * math.Cos(a), flangePCD * math.Sin(a)}
	}
	// clear says whether p is on the flat plate, away from holes and edges.
	clear := func(p vec, margin float64) bool {
		r := math.Hypot(p.X, p.Y)
		if r < flangeHub+margin || r > flangeR-margin {
			return false
		}
		for _, h := range holes {
			if math.Hypot(p.X-h.X, p.Y-h.Y) < holeR+margin {
				return false
			}
		}
		return true
	}
	var (
		marks   [][]vec // polylines of the scratch or crack
		width   float64 // their width in pixels
		markMod float32
		dent    vec
		dentR   float64
		dentD   float64
	)
	switch class {
	case "ok", "missing_hole":
	case "scratch":
		width = 4.0 + 1.5*u()
		// Dark: the station's lamp is set up so scratches through the
		// zinc show dark on the plate, as a real inspection light is.
		markMod = scratchMark
		for {
			a := u() * 2 * math.Pi
			r := flangeHub + 10 + u()*(flangeR-flangeHub-18)
			dir := u() * math.Pi
			l := 42 + 24*u()
			c := vec{r * math.Cos(a), r * math.Sin(a)}
			p0 := vec{c.X - math.Cos(dir)*l/2, c.Y - math.Sin(dir)*l/2}
			p1 := vec{c.X + math.Cos(dir)*l/2, c.Y + math.Sin(dir)*l/2}
			ok := true
			for k := 0; k <= 8; k++ {
				f := float64(k) / 8
				if !clear(vec{p0.X + (p1.X-p0.X)*f, p0.Y + (p1.Y-p0.Y)*f}, 3) {
					ok = false
				}
			}
			if ok {
				marks = append(marks, []vec{p0, p1})
				break
			}
		}
	case "crack":
		width = 3.4 + 1.4*u()
		markMod = 0.22
		for {
			a := u() * 2 * math.Pi
			depth := 28 + 14*u()
			pts := []vec{{(flangeR + 1) * math.Cos(a), (flangeR + 1) * math.Sin(a)}}
			r, ang := flangeR+1, a
			ok := true
			for r > flangeR-depth {
				r -= 3 + 3*u()
				ang += (u() - 0.5) * 0.16
				p := vec{r * math.Cos(ang), r * math.Sin(ang)}
				if !clear(p, 2) && r < flangeR-4 {
					ok = false
				}
				pts = append(pts, p)
			}
			if ok {
				marks = append(marks, pts)
				break
			}
		}
	case "dent":
		dentR = 13 + 4*u()
		dentD = 3.5 + 1.2*u()
		for {
			a := u() * 2 * math.Pi
			r := flangeHub + u()*(flangeR-flangeHub)
			dent = vec{r * math.Cos(a), r * math.Sin(a)}
			if clear(dent, dentR+2) {
				break
			}
		}
	default:
		return partDef{}, fmt.Errorf("demo: unknown defect class %q", class)
	}
	return partDef{rb: flangeR + 2, build: func(sp *sprite) {
		t := sp.t
		sp.add(layer{bevel: 3, albedo: 1, draw: func(m *gocv.Mat) {
			disc(t, m, 0, 0, flangeR, 255)
			disc(t, m, 0, 0, flangeBore, 0)
			for k, h := range holes {
				if class == "missing_hole" && k == missing {
					continue
				}
				disc(t, m, h.X, h.Y, holeR, 0)
			}
		}, mod: func(x, y, d float64) float64 {
			h := 0.012 * math.Sin(math.Hypot(x, y)*1.3+phase)
			if dentR > 0 {
				if r := math.Hypot(x-dent.X, y-dent.Y); r < dentR {
					q := 1 - (r/dentR)*(r/dentR)
					h -= dentD * q * q
				}
			}
			return h
		}})
		sp.add(layer{base: 2, bevel: 3, albedo: 1, draw: func(m *gocv.Mat) {
			disc(t, m, 0, 0, flangeHub, 255)
			disc(t, m, 0, 0, flangeBore, 0)
		}})
		switch {
		case class == "missing_hole":
			h := holes[missing]
			sp.mark(1, func(m *gocv.Mat) { disc(t, m, h.X, h.Y, holeR, 255) })
		case dentR > 0:
			sp.mark(0.8, func(m *gocv.Mat) { disc(t, m, dent.X, dent.Y, dentR, 255) }) // dull where the tool hit
		}
		line := func(pl []vec, extra float64) func(m *gocv.Mat) {
			return func(m *gocv.Mat) {
				for i := 1; i < len(pl); i++ {
					w := width
					if class == "crack" { // a crack narrows towards its tip
						w = width * (1 - 0.5*float64(i)/float64(len(pl)))
					}
					thickLine(m, t.p(pl[i-1].X, pl[i-1].Y), t.p(pl[i].X, pl[i].Y), math.Max(w, 1.8)+extra, 255)
				}
			}
		}
		for _, pl := range marks {
			if class == "crack" {
				sp.mark(crackLip, line(pl, 2.4))
			}
			sp.mark(markMod, line(pl, 0))
		}
	}}, nil
}
