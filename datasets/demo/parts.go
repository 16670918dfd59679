package demo

import (
	"math"
	"math/rand/v2"
)

// PartClasses are the spare parts of demo-parts, in label order.
var PartClasses = []string{"angle_bracket", "ball_bearing", "hex_bolt", "hex_nut", "spring", "washer"}

// DefectClasses are the classes of demo-defects (one flange, OK or defective).
var DefectClasses = []string{"crack", "missing_hole", "ok", "scratch"}

// sparePart returns the drawing of a spare part of the class. Details that
// vary between parts of the same class (thread pitch, coil count) come from rng.
func sparePart(class string, rng *rand.Rand) func(l layers, p pose) {
	switch class {
	case "washer":
		inner := 0.4 + 0.12*rng.Float64()
		return func(l layers, p pose) {
			m := pen{&l.metal, p}
			m.disc(vec{}, 1, 255)
			m.disc(vec{}, inner, 0)
			pen{&l.dark, p}.ring(vec{}, inner+0.04, 0.03, 90)
		}
	case "hex_nut":
		hole := 0.42 + 0.1*rng.Float64()
		return func(l layers, p pose) {
			m := pen{&l.metal, p}
			var hex []vec
			for k := 0; k < 6; k++ {
				a := float64(k) * math.Pi / 3
				hex = append(hex, vec{math.Cos(a), math.Sin(a)})
			}
			m.poly(255, hex...)
			m.disc(vec{}, hole, 0)
			d := pen{&l.dark, p}
			d.ring(vec{}, hole+0.1, 0.04, 110)  // chamfer
			d.ring(vec{}, hole+0.02, 0.03, 180) // thread
			for k := 0; k < 6; k++ {            // facet edges
				a := float64(k) * math.Pi / 3
				d.line(vec{0.87 * math.Cos(a), 0.87 * math.Sin(a)}, vec{math.Cos(a), math.Sin(a)}, 2, 120)
			}
		}
	case "hex_bolt":
		pitch := 0.06 + 0.03*rng.Float64()
		shank := 0.16 + 0.06*rng.Float64()
		return func(l layers, p pose) {
			m := pen{&l.metal, p}
			m.poly(255, vec{-1, -0.42}, vec{-0.6, -0.42}, vec{-0.6, 0.42}, vec{-1, 0.42})
			m.poly(255, vec{-0.6, -shank}, vec{1, -shank}, vec{1, shank}, vec{-0.6, shank})
			d := pen{&l.dark, p}
			d.line(vec{-1, -0.14}, vec{-0.6, -0.14}, 2, 120)
			d.line(vec{-1, 0.14}, vec{-0.6, 0.14}, 2, 120)
			for x := -0.1; x < 0.98; x += pitch {
				d.line(vec{x, -shank}, vec{x + pitch/2, shank}, 2, 170)
			}
			pen{&l.shine, p}.line(vec{-0.55, -shank * 0.3}, vec{0.95, -shank * 0.3}, 2, 120)
		}
	case "spring":
		coils := 6 + rng.IntN(4)
		wire := 0.06 + 0.03*rng.Float64()
		return func(l layers, p pose) {
			m := pen{&l.metal, p}
			step := 1.9 / float64(coils)
			for k := 0; k <= coils; k++ {
				x := -0.95 + float64(k)*step
				m.ellipse(vec{x, 0}, step*0.55, 0.45, 12, wire, 255)
			}
			d := pen{&l.dark, p}
			for k := 0; k <= coils; k++ {
				x := -0.95 + float64(k)*step
				d.ellipse(vec{x, 0}, step*0.55, 0.45, 12, wire/3, 60)
			}
		}
	case "angle_bracket":
		hole := 0.1 + 0.04*rng.Float64()
		return func(l layers, p pose) {
			m := pen{&l.metal, p}
			m.poly(255, vec{-0.9, -0.9}, vec{0.9, -0.9}, vec{0.9, -0.45}, vec{-0.45, -0.45}, vec{-0.45, 0.9}, vec{-0.9, 0.9})
			m.disc(vec{0.5, -0.675}, hole, 0)
			m.disc(vec{-0.675, 0.5}, hole, 0)
			d := pen{&l.dark, p}
			d.line(vec{-0.62, -0.62}, vec{0.9, -0.62}, 3, 110) // the bend
			d.line(vec{-0.62, -0.62}, vec{-0.62, 0.9}, 3, 110)
		}
	case "ball_bearing":
		balls := 7 + rng.IntN(4)
		return func(l layers, p pose) {
			m := pen{&l.metal, p}
			m.disc(vec{}, 1, 255)
			m.disc(vec{}, 0.36, 0)
			d := pen{&l.dark, p}
			d.ring(vec{}, 0.67, 0.22, 200) // the gap between the rings
			s := pen{&l.shine, p}
			for k := 0; k < balls; k++ {
				a := 2 * math.Pi * float64(k) / float64(balls)
				c := vec{0.67 * math.Cos(a), 0.67 * math.Sin(a)}
				d.disc(c, 0.1, 30)
				s.disc(vec{c.X - 0.03, c.Y - 0.03}, 0.03, 255)
			}
			d.ring(vec{}, 0.42, 0.02, 120)
		}
	}
	panic("demo: unknown part class " + class)
}

// flange is the demo-defects part: a disc with a hub and four bolt holes,
// OK or with one small defect. Defects cover a few percent of its area.
func flange(class string, rng *rand.Rand) func(l layers, p pose) {
	missing := rng.IntN(4)
	holeR := 0.12 + 0.02*rng.Float64()
	type stroke struct {
		pts    []vec
		width  float64 // fraction of the radius
		bright bool
	}
	var marks []stroke
	switch class {
	case "scratch":
		n := 1 + rng.IntN(2)
		a := rng.Float64() * 2 * math.Pi
		r := 0.5 + 0.3*rng.Float64()
		c := vec{r * math.Cos(a), r * math.Sin(a)}
		dir := a + math.Pi/2 + (rng.Float64()-0.5)*1.2
		bright := rng.IntN(2) == 0
		for k := 0; k < n; k++ {
			l := 0.45 + 0.3*rng.Float64()
			off := float64(k) * 0.06
			o := vec{c.X + off*math.Cos(a), c.Y + off*math.Sin(a)}
			dx, dy := math.Cos(dir)*l/2, math.Sin(dir)*l/2
			marks = append(marks, stroke{pts: []vec{{o.X - dx, o.Y - dy}, {o.X + dx, o.Y + dy}}, width: 0.025, bright: bright})
		}
	case "crack":
		a := rng.Float64() * 2 * math.Pi
		pts := []vec{{math.Cos(a), math.Sin(a)}}
		r, ang := 1.0, a
		for r > 1-(0.35+0.25*rng.Float64()) {
			r -= 0.05 + 0.04*rng.Float64()
			ang += (rng.Float64() - 0.5) * 0.25
			pts = append(pts, vec{r * math.Cos(ang), r * math.Sin(ang)})
		}
		marks = append(marks, stroke{pts: pts, width: 0.022})
		if rng.IntN(2) == 0 { // a short branch
			mid := pts[len(pts)/2]
			b := ang + (rng.Float64()-0.5)*1.5
			marks = append(marks, stroke{pts: []vec{mid, {mid.X - 0.15*math.Cos(b), mid.Y - 0.15*math.Sin(b)}}, width: 0.015})
		}
	}
	return func(l layers, p pose) {
		m := pen{&l.metal, p}
		m.disc(vec{}, 1, 255)
		m.disc(vec{}, 0.3, 0)
		d := pen{&l.dark, p}
		d.ring(vec{}, 0.44, 0.025, 120) // hub edge
		d.ring(vec{}, 0.95, 0.02, 70)   // chamfer
		for k := 0; k < 4; k++ {
			if class == "missing_hole" && k == missing {
				continue
			}
			a := math.Pi/4 + float64(k)*math.Pi/2
			m.disc(vec{0.7 * math.Cos(a), 0.7 * math.Sin(a)}, holeR, 0)
		}
		for _, s := range marks {
			layer := pen{&l.dark, p}
			v := uint8(235)
			if s.bright {
				layer, v = pen{&l.shine, p}, 255
			}
			w := max(3, p.px(s.width))
			for i := 1; i < len(s.pts); i++ {
				layer.line(s.pts[i-1], s.pts[i], w, v)
			}
			if s.bright { // a bright scratch has a dark groove beside it
				for i := 1; i < len(s.pts); i++ {
					pen{&l.dark, p}.line(s.pts[i-1], s.pts[i], w/2+1, 160)
				}
			}
		}
	}
}
