package demo

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"gocv.io/x/gocv"
)

// SetCatalogue is the demo spare-part catalogue's folder: reference/<part>/
// (catalogue photos), customer/<part>/ (customers' phone photos of the same
// parts), unknown/<part>/ (customer photos of parts not in the catalogue)
// and parts.csv.
const SetCatalogue = "demo-catalogue"

// Photos per part of the demo catalogue.
const (
	CatalogueRefPhotos      = 5
	CatalogueCustomerPhotos = 4
)

// CataloguePart is one part of the demo catalogue.
type CataloguePart struct {
	Number      string
	Name        string
	Description string
	Attributes  map[string]string // family, finish, and mirror_of for left/right parts
	Known       bool              // false: a part not in the catalogue (customer photos only)
	g           catGeom
}

// catGeom is a part's geometry, fixed per part so every photo shows the
// same part.
type catGeom struct {
	kind   string
	a, b   float64 // main dimensions in part units
	w      float64
	holes  int
	mirror bool
	sh, th float64 // a bolt's shank diameter and thread length
	n      int     // coils, balls, teeth
	sealed bool
	metal  string
}

func metalNamed(name string) metal {
	for _, m := range metals {
		if m.name == name {
			return m
		}
	}
	return metals[0]
}

// CatalogueParts lists the demo catalogue: 48 parts in look-alike families
// (a bracket with 2 or 3 holes, a bolt in two lengths, left and right
// mirror parts, one part in two finishes), then 8 parts that are not in it.
func CatalogueParts() []CataloguePart {
	var ps []CataloguePart
	add := func(num, name, desc string, g catGeom, attrs ...string) {
		a := map[string]string{"family": g.kind, "finish": g.metal}
		for i := 0; i+1 < len(attrs); i += 2 {
			a[attrs[i]] = attrs[i+1]
		}
		ps = append(ps, CataloguePart{Number: num, Name: name, Description: desc, Attributes: a, Known: !strings.HasPrefix(num, "X-"), g: g})
	}
	// Angle brackets: the same bracket with 2 or 3 holes per leg, two sizes, two finishes.
	for _, sz := range []struct {
		tag string
		a   float64
	}{{"60", 110}, {"80", 140}} {
		for _, h := range []int{2, 3} {
			add(fmt.Sprintf("BR-%s-%dH", sz.tag, h), fmt.Sprintf("Angle bracket %s mm, %d holes", sz.tag, h), "Galvanised steel angle bracket, equal legs",
				catGeom{kind: "angle_bracket", a: sz.a, b: sz.a, w: 32, holes: h, metal: "zinc"})
		}
	}
	add("BR-60-2H-Y", "Angle bracket 60 mm, 2 holes, yellow zinc", "The BR-60-2H in yellow zinc", catGeom{kind: "angle_bracket", a: 110, b: 110, w: 32, holes: 2, metal: "yellow-zinc"})
	add("BR-80-3H-B", "Angle bracket 80 mm, 3 holes, black", "The BR-80-3H in black oxide", catGeom{kind: "angle_bracket", a: 140, b: 140, w: 32, holes: 3, metal: "black-oxide"})
	// Unequal-leg brackets: left and right are mirror images.
	for _, s := range []struct {
		tag  string
		a, b float64
	}{{"7050", 130, 90}, {"9060", 160, 105}} {
		l, r := "BRL-"+s.tag, "BRR-"+s.tag
		add(l, "Corner bracket "+s.tag+" left", "Unequal legs, left-hand", catGeom{kind: "angle_bracket", a: s.a, b: s.b, w: 30, holes: 2, metal: "steel"}, "mirror_of", r, "side", "left")
		add(r, "Corner bracket "+s.tag+" right", "Unequal legs, right-hand", catGeom{kind: "angle_bracket", a: s.a, b: s.b, w: 30, holes: 2, mirror: true, metal: "steel"}, "mirror_of", l, "side", "right")
	}
	// Mounting plates, left and right.
	for _, s := range []struct {
		tag  string
		a, b float64
	}{{"A", 150, 80}, {"B", 120, 100}} {
		l, r := "MP-"+s.tag+"-L", "MP-"+s.tag+"-R"
		add(l, "Mounting plate "+s.tag+" left", "Tapered plate with a slot, left-hand", catGeom{kind: "plate", a: s.a, b: s.b, holes: 3, metal: "stainless"}, "mirror_of", r, "side", "left")
		add(r, "Mounting plate "+s.tag+" right", "Tapered plate with a slot, right-hand", catGeom{kind: "plate", a: s.a, b: s.b, holes: 3, mirror: true, metal: "stainless"}, "mirror_of", l, "side", "right")
	}
	// Hex bolts (ISO 4017): the same bolt in two lengths. Drawn from the
	// standard's head and shank sizes in mm, so M8 and M12 differ in
	// proportion (head to shank, length to head) as real bolts do.
	for _, d := range []isoBolt{boltM8, boltM12} {
		for _, L := range []int{40, 60} {
			add(fmt.Sprintf("HB-%s-%d", d.tag, L), fmt.Sprintf("Hex bolt %s×%d", d.tag, L), "Hex head bolt, part thread",
				d.geom(L, "zinc"))
		}
	}
	add("HB-M8-60-S", "Hex bolt M8×60 stainless", "The HB-M8-60 in stainless steel", boltM8.geom(60, "stainless"))
	add("HB-M8-60-B", "Hex bolt M8×60 black", "The HB-M8-60 in black oxide", boltM8.geom(60, "black-oxide"))
	// Hex nuts (ISO 4032) in two sizes and two finishes: across flats 16
	// and 24 mm for bores of 10 and 16 mm.
	for _, s := range []struct {
		tag         string
		flats, bore float64
	}{{"M10", 16, 10}, {"M16", 24, 16}} {
		for _, f := range []string{"zinc", "black-oxide"} {
			add("HN-"+s.tag+"-"+finishTag(f), "Hex nut "+s.tag+" "+f, "ISO 4032 hex nut", catGeom{kind: "hex_nut", a: s.flats * mm, b: s.bore * mm, metal: f})
		}
	}
	// Washers for M10: plain (ISO 7089, 10.5 × 20 mm) and wide (ISO 7093,
	// 10.5 × 30 mm), two finishes.
	for _, s := range []struct {
		tag       string
		out, hole float64
	}{{"10", 20, 10.5}, {"10W", 30, 10.5}} {
		for _, f := range []string{"zinc", "brass"} {
			add("WA-"+s.tag+"-"+finishTag(f), "Washer "+s.tag+" "+f, "Flat washer", catGeom{kind: "washer", a: s.out / 2 * mm, b: s.hole / 2 * mm, metal: f})
		}
	}
	// Springs: two lengths, two coil counts.
	for _, L := range []int{50, 70} {
		for _, n := range []int{6, 9} {
			add(fmt.Sprintf("SP-%d-%d", L, n), fmt.Sprintf("Compression spring %d mm, %d coils", L, n), "Music wire compression spring",
				catGeom{kind: "spring", a: float64(L) * 2.6, b: 28, w: 4, n: n, metal: "steel"})
		}
	}
	// Deep groove ball bearings, open and sealed, two sizes: 6201 (bore 12,
	// outside 32 mm, 7 balls of 5.95 mm) and 6204 (20 × 47 mm, 8 balls of
	// 7.94 mm).
	for _, s := range []struct {
		tag            string
		bore, od, ball float64
		balls          int
	}{{"6201", 12, 32, 5.953, 7}, {"6204", 20, 47, 7.938, 8}} {
		g := catGeom{kind: "ball_bearing", a: s.od / 2 * mm, b: s.bore / 2 * mm, w: s.ball / 2 * mm, n: s.balls, metal: "stainless"}
		add("BB-"+s.tag, "Ball bearing "+s.tag+" open", "Deep groove ball bearing, open", g)
		g.sealed = true
		add("BB-"+s.tag+"-2RS", "Ball bearing "+s.tag+"-2RS sealed", "Deep groove ball bearing, sealed both sides", g)
	}
	// Flat straps with 2, 3 or 4 holes.
	for _, h := range []int{2, 3, 4} {
		add(fmt.Sprintf("FS-150-%dH", h), fmt.Sprintf("Flat strap 150 mm, %d holes", h), "Perforated flat strap", catGeom{kind: "strap", a: 170, w: 34, holes: h, metal: "zinc"})
	}
	add("FS-200-3H", "Flat strap 200 mm, 3 holes", "Perforated flat strap", catGeom{kind: "strap", a: 220, w: 34, holes: 3, metal: "zinc"})
	add("FS-150-3H-B", "Flat strap 150 mm, 3 holes, brass", "The FS-150-3H in brass", catGeom{kind: "strap", a: 170, w: 34, holes: 3, metal: "brass"})
	// Not in the catalogue: what customers also bring.
	add("X-GEAR-24", "Spur gear 24 teeth", "", catGeom{kind: "gear", a: 62, n: 24, metal: "brass"})
	add("X-GEAR-16", "Spur gear 16 teeth", "", catGeom{kind: "gear", a: 55, n: 16, metal: "steel"})
	add("X-TRI-PLATE", "Triangular gusset plate", "", catGeom{kind: "triangle", a: 150, metal: "zinc"})
	add("X-U-BRACKET", "U bracket", "", catGeom{kind: "ubracket", a: 120, b: 80, w: 26, metal: "zinc"})
	add("X-RING-SLOT", "Slotted ring", "", catGeom{kind: "slotring", a: 66, b: 40, n: 4, metal: "stainless"})
	add("X-T-PLATE", "T plate", "", catGeom{kind: "tplate", a: 150, b: 110, w: 34, metal: "steel"})
	add("X-CROSS", "Cross connector", "", catGeom{kind: "cross", a: 140, w: 32, metal: "yellow-zinc"})
	add("X-STAR-KNOB", "Star knob", "", catGeom{kind: "star", a: 60, n: 5, metal: "black-oxide"})
	return ps
}

func finishTag(f string) string {
	switch f {
	case "black-oxide":
		return "B"
	case "brass":
		return "BR"
	case "stainless":
		return "S"
	}
	return "Z"
}

// mm is the part units per millimetre for the parts drawn from a
// standard's dimensions. The photos scale every part to fill the frame, so
// only proportions show; the unit keeps the bevels and thread pitch the
// same size as on the other parts.
const mm = 5.5

// isoBolt is an ISO 4017 hex bolt size: across flats s, head height k,
// shank diameter d, in mm.
type isoBolt struct {
	tag     string
	s, k, d float64
}

var (
	boltM8  = isoBolt{"M8", 13, 5.3, 8}
	boltM12 = isoBolt{"M12", 18, 7.5, 12}
)

// geom is the bolt with a shank of length L mm, threaded for the
// standard's 2d + 6 mm.
func (b isoBolt) geom(L int, metal string) catGeom {
	return catGeom{kind: "hex_bolt", a: float64(L) * mm, b: b.k * mm, w: b.s * mm, sh: b.d * mm, th: (2*b.d + 6) * mm, metal: metal}
}

// build returns the part's drawing; mirror flips it left to right.
func (g catGeom) build() partDef {
	fl := 1.0
	if g.mirror {
		fl = -1
	}
	P := func(x, y float64) vec { return vec{x, fl * y} }
	polyP := func(t xform, m *gocv.Mat, pts ...vec) {
		q := make([]vec, len(pts))
		for i, p := range pts {
			q[i] = P(p.X, p.Y)
		}
		poly(t, m, 255, q...)
	}
	discP := func(t xform, m *gocv.Mat, x, y, r float64, v uint8) { p := P(x, y); disc(t, m, p.X, p.Y, r, v) }
	switch g.kind {
	case "angle_bracket":
		A, B, w := g.a, g.b, g.w
		c := (A + B) / 2 * 0.38
		return partDef{rb: math.Hypot(A-c, B-c)*0.75 + 8, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 2.5, albedo: 1, draw: func(m *gocv.Mat) {
				polyP(t, m, vec{-c, -c}, vec{A - c, -c}, vec{A - c, w - c}, vec{w - c, w - c}, vec{w - c, B - c}, vec{-c, B - c})
				for k := range g.holes {
					f := 0.45 + 0.45*float64(k)/math.Max(1, float64(g.holes-1))
					if g.holes == 1 {
						f = 0.7
					}
					discP(t, m, -c+w+(A-w)*f-w*0.5, -c+w/2, 6, 0)
					discP(t, m, -c+w/2, -c+w+(B-w)*f-w*0.5, 6, 0)
				}
			}})
		}}
	case "plate":
		A, B := g.a, g.b
		return partDef{rb: math.Hypot(A/2, B/2) + 4, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 2, albedo: 1, draw: func(m *gocv.Mat) {
				polyP(t, m, vec{-A / 2, -B / 2}, vec{A / 2, -B / 2}, vec{A / 2, -B / 6}, vec{A / 6, B / 2}, vec{-A / 2, B / 2})
				discP(t, m, -A/2+14, -B/2+14, 7, 0)
				discP(t, m, A/2-14, -B/2+14, 7, 0)
				discP(t, m, -A/2+14, B/2-14, 7, 0)
				// A slot near the tapered edge.
				for k := range 9 {
					discP(t, m, -A/8+float64(k)*3, 0, 5, 0)
				}
			}})
		}}
	case "strap":
		L, w := g.a, g.w
		return partDef{rb: math.Hypot(L/2, w/2) + 4, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 2, albedo: 1, draw: func(m *gocv.Mat) {
				rect(t, m, -L/2, -w/2, L/2, w/2, 255)
				for k := range g.holes {
					x := -L/2 + 18 + (L-36)*float64(k)/float64(max(1, g.holes-1))
					disc(t, m, x, 0, 7, 0)
				}
			}})
		}}
	case "hex_bolt":
		// Seen from the side: the head's corners (across corners 2s/√3)
		// and its height k, then the shank of length L.
		L, hh, hf, rs := g.a, g.b, g.w, g.sh/2
		x0 := -(L + hh) / 2
		half := hf / math.Sqrt(3)
		thread := g.th
		return partDef{rb: math.Hypot((L+hh)/2, half), build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 1.5, albedo: 1, draw: func(m *gocv.Mat) { rect(t, m, x0, -half, x0+hh, half, 255) },
				mod: func(x, y, d float64) float64 {
					if ay := math.Abs(y); ay >= half/2 {
						return hf*0.75 - (ay-half/2)*math.Sqrt(3)
					}
					return hf * 0.75
				}})
			end := x0 + hh + L
			sp.add(layer{bevel: rs, albedo: 1, draw: func(m *gocv.Mat) { rect(t, m, x0+hh-3, -rs, end, rs, 255) },
				mod: func(x, y, d float64) float64 {
					if x < end-thread {
						return 0
					}
					return 1.3 * math.Sin(2*math.Pi*(x-0.18*y)/5.5)
				}})
		}}
	case "hex_nut":
		// a across flats, b the bore; the hexagon's corners lie at a/√3.
		R := g.a / math.Sqrt(3)
		hole := g.b / 2
		return partDef{rb: R, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 4, albedo: 1, draw: func(m *gocv.Mat) {
				var hex []vec
				for k := range 6 {
					a := float64(k) * math.Pi / 3
					hex = append(hex, vec{R * math.Cos(a), R * math.Sin(a)})
				}
				poly(t, m, 255, hex...)
				disc(t, m, 0, 0, hole, 0)
			}, mod: func(x, y, d float64) float64 {
				// The thread's countersink.
				r := math.Hypot(x, y)
				if c := hole * 1.22; r < c {
					return -(c-r)*1.1 - 0.5*math.Sin(r*2.2)
				}
				return 0
			}})
		}}
	case "washer":
		return partDef{rb: g.a, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 3, albedo: 1, draw: func(m *gocv.Mat) { disc(t, m, 0, 0, g.a, 255); disc(t, m, 0, 0, g.b, 0) }})
		}}
	case "spring":
		L, R, wire, coils := g.a, g.b, g.w, g.n
		return partDef{rb: math.Hypot(L/2, R+wire), build: func(sp *sprite) {
			t := sp.t
			half := func(top bool) func(m *gocv.Mat) {
				return func(m *gocv.Mat) {
					n := coils * 48
					for k := range n {
						a0 := 2 * math.Pi * float64(k) / 48
						a1 := 2 * math.Pi * float64(k+1) / 48
						if (math.Sin((a0+a1)/2) >= 0) != top {
							continue
						}
						p0 := vec{-L/2 + wire + (L-2*wire)*float64(k)/float64(n), R * math.Cos(a0)}
						p1 := vec{-L/2 + wire + (L-2*wire)*float64(k+1)/float64(n), R * math.Cos(a1)}
						thickLine(m, t.p(p0.X, p0.Y), t.p(p1.X, p1.Y), 2*wire*t.s, 255)
					}
				}
			}
			sp.add(layer{bevel: wire, albedo: 0.65, draw: half(false)})
			sp.add(layer{base: R, bevel: wire, albedo: 1, draw: half(true)})
		}}
	case "ball_bearing":
		// a outside radius, b bore radius, w ball radius; the rings' lands
		// lie a little inside the balls' pitch circle on either side.
		R, bore, br := g.a, g.b, g.w
		pr := (R + bore) / 2
		outerIn, innerOut := pr+0.8*br, pr-0.8*br
		return partDef{rb: R, build: func(sp *sprite) {
			t := sp.t
			ring := func(r0, r1 float64) func(m *gocv.Mat) {
				return func(m *gocv.Mat) { disc(t, m, 0, 0, r1, 255); disc(t, m, 0, 0, r0, 0) }
			}
			sp.add(layer{bevel: 4, albedo: 1, draw: ring(outerIn, R)})
			sp.add(layer{bevel: 3.5, albedo: 1, draw: ring(bore, innerOut)})
			if !g.sealed {
				sp.add(layer{bevel: 1, albedo: 0.55, draw: ring(innerOut, outerIn)})
				sp.add(layer{bevel: br, albedo: 1, draw: func(m *gocv.Mat) {
					for k := range g.n {
						a := 2 * math.Pi * float64(k) / float64(g.n)
						disc(t, m, pr*math.Cos(a), pr*math.Sin(a), br, 255)
					}
				}})
			} else {
				sp.add(layer{base: 0.5, bevel: 1.5, albedo: 0.5, draw: ring(innerOut, outerIn)})
			}
		}}
	case "gear":
		R, n := g.a, g.n
		return partDef{rb: R + 6, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 2.5, albedo: 1, draw: func(m *gocv.Mat) {
				var pts []vec
				for k := range n * 4 {
					a := 2 * math.Pi * float64(k) / float64(n*4)
					r := R - 6
					if k%4 == 1 || k%4 == 2 {
						r = R + 6
					}
					pts = append(pts, vec{r * math.Cos(a), r * math.Sin(a)})
				}
				poly(t, m, 255, pts...)
				disc(t, m, 0, 0, R*0.25, 0)
			}})
		}}
	case "triangle":
		A := g.a
		return partDef{rb: A * 0.6, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 2, albedo: 1, draw: func(m *gocv.Mat) {
				poly(t, m, 255, vec{-A / 2, -A / 3}, vec{A / 2, -A / 3}, vec{-A / 2, A * 0.6})
				disc(t, m, -A/2+16, -A/3+14, 7, 0)
				disc(t, m, A/2-26, -A/3+12, 6, 0)
				disc(t, m, -A/2+14, A*0.6-30, 6, 0)
			}})
		}}
	case "ubracket":
		A, B, w := g.a, g.b, g.w
		return partDef{rb: math.Hypot(A/2, B/2) + 4, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 2.5, albedo: 1, draw: func(m *gocv.Mat) {
				rect(t, m, -A/2, -B/2, A/2, -B/2+w, 255)
				rect(t, m, -A/2, -B/2, -A/2+w, B/2, 255)
				rect(t, m, A/2-w, -B/2, A/2, B/2, 255)
				disc(t, m, 0, -B/2+w/2, 6, 0)
			}})
		}}
	case "slotring":
		return partDef{rb: g.a, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 3, albedo: 1, draw: func(m *gocv.Mat) {
				disc(t, m, 0, 0, g.a, 255)
				disc(t, m, 0, 0, g.b, 0)
				for k := range g.n {
					a := 2 * math.Pi * float64(k) / float64(g.n)
					disc(t, m, (g.a+g.b)/2*math.Cos(a), (g.a+g.b)/2*math.Sin(a), (g.a-g.b)*0.3, 0)
				}
			}})
		}}
	case "tplate":
		A, B, w := g.a, g.b, g.w
		return partDef{rb: math.Hypot(A/2, B/2) + 4, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 2, albedo: 1, draw: func(m *gocv.Mat) {
				rect(t, m, -A/2, -B/2, A/2, -B/2+w, 255)
				rect(t, m, -w/2, -B/2, w/2, B/2, 255)
				for _, x := range []float64{-A/2 + 14, A/2 - 14} {
					disc(t, m, x, -B/2+w/2, 6, 0)
				}
				disc(t, m, 0, B/2-14, 6, 0)
			}})
		}}
	case "cross":
		A, w := g.a, g.w
		return partDef{rb: math.Hypot(A/2, w/2) + 4, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 2, albedo: 1, draw: func(m *gocv.Mat) {
				rect(t, m, -A/2, -w/2, A/2, w/2, 255)
				rect(t, m, -w/2, -A/2, w/2, A/2, 255)
				for _, p := range []vec{{-A/2 + 12, 0}, {A/2 - 12, 0}, {0, -A/2 + 12}, {0, A/2 - 12}} {
					disc(t, m, p.X, p.Y, 6, 0)
				}
			}})
		}}
	case "star":
		R, n := g.a, g.n
		return partDef{rb: R, build: func(sp *sprite) {
			t := sp.t
			sp.add(layer{bevel: 8, albedo: 1, draw: func(m *gocv.Mat) {
				for k := range n {
					a := 2 * math.Pi * float64(k) / float64(n)
					disc(t, m, R*0.7*math.Cos(a), R*0.7*math.Sin(a), R*0.3, 255)
				}
				disc(t, m, 0, 0, R*0.6, 255)
			}})
		}}
	}
	panic("demo: unknown catalogue geometry " + g.kind)
}

// Photo kinds of CatalogueImage.
const (
	PhotoReference = "reference"
	PhotoCustomer  = "customer"
)

// CatalogueImage renders photo i of a part as JPEG: a reference photo (a
// catalogue shot: the whole part, any table, good focus) or a customer
// photo (another table and light, phone-like blur, exposure off, the part
// larger or smaller and possibly cut by the frame's edge).
func CatalogueImage(seed uint64, p CataloguePart, kind string, i int) ([]byte, error) {
	rng := rngFor(seed, SetCatalogue, kind, p.Number, fmt.Sprint(i))
	pd := p.g.build()
	// A close-up, as people photograph a single part to identify it: the
	// part in the middle, its bounding circle about 85 % of the frame's
	// height; the customer holds the phone less steadily.
	base := 0.42 * Height / pd.rb
	scale, jit := base*(0.92+0.16*rng.Float64()), 0.05
	if kind == PhotoCustomer {
		scale, jit = base*(0.8+0.3*rng.Float64()), 0.1
	}
	angle := rng.Float64() * 2 * math.Pi
	cx := Width/2 + (2*rng.Float64()-1)*jit*Width
	cy := Height/2 + (2*rng.Float64()-1)*jit*Height
	sc := newScene(rng, sceneAnywhere)
	if kind == PhotoCustomer {
		sc.blur = 1.0 + 1.5*rng.Float64()
		exp := float32(0.7 + 0.6*rng.Float64())
		for j := range sc.light {
			sc.light[j] *= exp
		}
		sc.noise += 2 * rng.Float64()
		sc.quality = 60 + rng.IntN(25)
	}
	sp := makeSprite(pd, scale, angle)
	pl := sc.prepare(rng, sp, metalNamed(p.g.metal))
	frame := make([]float32, Width*Height*3)
	sc.compose(frame, &pl, int(cx)-sp.S/2, int(cy)-sp.S/2, nil, nil)
	m := sc.camera(rng, frame, make([]byte, Width*Height*3))
	defer m.Close()
	return encodeJPEG(m, sc.quality)
}

// CatalogueOptions say what GenerateCatalogue writes.
type CatalogueOptions struct {
	Seed     uint64
	Out      string          // parent folder; the catalogue goes to Out/demo-catalogue
	Parts    []CataloguePart // default CatalogueParts()
	Ref      int             // reference photos per part; default CatalogueRefPhotos
	Customer int             // customer photos per part; default CatalogueCustomerPhotos
	Workers  int
	Force    bool
	Progress func(step string, done, total int)
}

// catalogueDrawing changes whenever a catalogue part's drawing changes, so
// an old demo catalogue is drawn again (Version does this for all sets).
const catalogueDrawing = 2

// CatalogueDir is where GenerateCatalogue writes under out.
func CatalogueDir(out string) string { return filepath.Join(out, SetCatalogue) }

// GenerateCatalogue writes the demo catalogue: reference/<part>/NN.jpg for
// the catalogue's parts, customer/<part>/NN.jpg for them too, unknown/<part>/
// NN.jpg for parts not in it, and parts.csv (part_number, name,
// description, attributes as key=value;…). It returns at once when a stamp
// says it is complete (see Force); the stamp is written last, files
// atomically. It returns ctx's error or the first file system error.
func GenerateCatalogue(ctx context.Context, opt CatalogueOptions) error {
	if opt.Parts == nil {
		opt.Parts = CatalogueParts()
	}
	if opt.Ref <= 0 {
		opt.Ref = CatalogueRefPhotos
	}
	if opt.Customer <= 0 {
		opt.Customer = CatalogueCustomerPhotos
	}
	if opt.Workers <= 0 {
		opt.Workers = 1
	}
	if opt.Progress == nil {
		opt.Progress = func(string, int, int) {}
	}
	dir := CatalogueDir(opt.Out)
	type catStamp struct {
		Version, Drawing, Ref, Customer, Parts int
		Seed                                   uint64
	}
	want := catStamp{Version: Version, Drawing: catalogueDrawing, Ref: opt.Ref, Customer: opt.Customer, Parts: len(opt.Parts), Seed: opt.Seed}
	stampPath := filepath.Join(dir, ".stamp.json")
	var have catStamp
	if b, err := os.ReadFile(stampPath); err == nil && !opt.Force && json.Unmarshal(b, &have) == nil && have == want {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	type job struct {
		p    CataloguePart
		kind string
		sub  string
		i    int
	}
	var jobs []job
	for _, p := range opt.Parts {
		if p.Known {
			for i := range opt.Ref {
				jobs = append(jobs, job{p, PhotoReference, "reference", i})
			}
		}
		sub := "customer"
		if !p.Known {
			sub = "unknown"
		}
		for i := range opt.Customer {
			jobs = append(jobs, job{p, PhotoCustomer, sub, i})
		}
	}
	var (
		mu   sync.Mutex
		done int
		ferr error
		wg   sync.WaitGroup
	)
	ch := make(chan job)
	for range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				b, err := CatalogueImage(opt.Seed, j.p, j.kind, j.i)
				if err == nil {
					err = writeAtomic(filepath.Join(dir, j.sub, j.p.Number, fmt.Sprintf("%02d.jpg", j.i)), b)
				}
				mu.Lock()
				if err != nil && ferr == nil {
					ferr = err
				}
				done++
				opt.Progress(SetCatalogue, done, len(jobs))
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		ch <- j
	}
	close(ch)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if ferr != nil {
		return ferr
	}
	if err := writePartsCSV(filepath.Join(dir, "parts.csv"), opt.Parts); err != nil {
		return err
	}
	b, _ := json.Marshal(want)
	return writeAtomic(stampPath, b)
}

func writePartsCSV(path string, parts []CataloguePart) error {
	var sb strings.Builder
	w := csv.NewWriter(&sb)
	w.Write([]string{"part_number", "name", "description", "attributes"})
	for _, p := range parts {
		if !p.Known {
			continue
		}
		var kv []string
		for k, v := range p.Attributes {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		w.Write([]string{p.Number, p.Name, p.Description, strings.Join(kv, ";")})
	}
	w.Flush()
	return writeAtomic(path, []byte(sb.String()))
}
