package demo

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"

	"gocv.io/x/gocv"
)

// The camera: 640×480, like a cheap USB webcam.
const (
	Width  = 640
	Height = 480
)

// vec is a point in a part's own coordinates, in units of its radius.
type vec struct{ X, Y float64 }

// pose places a part in the image.
type pose struct {
	CX, CY float64 // centre, pixels
	R      float64 // radius, pixels
	Theta  float64 // rotation, radians
}

func (p pose) at(v vec) image.Point {
	s, c := math.Sincos(p.Theta)
	return image.Pt(int(math.Round(p.CX+p.R*(c*v.X-s*v.Y))), int(math.Round(p.CY+p.R*(s*v.X+c*v.Y))))
}

func (p pose) px(units float64) int { return max(1, int(math.Round(p.R*units))) }

// layers are what a part draws: where metal is, where it is darkened
// (edges, threads, gaps, defects), and where it shines.
type layers struct {
	metal, dark, shine gocv.Mat // 8UC1, image size
}

func newLayers() layers {
	return layers{
		metal: gocv.NewMatWithSize(Height, Width, gocv.MatTypeCV8UC1),
		dark:  gocv.NewMatWithSize(Height, Width, gocv.MatTypeCV8UC1),
		shine: gocv.NewMatWithSize(Height, Width, gocv.MatTypeCV8UC1),
	}
}

func (l layers) Close() {
	l.metal.Close()
	l.dark.Close()
	l.shine.Close()
}

func grey(v uint8) color.RGBA { return color.RGBA{v, v, v, 255} }

// pen draws shapes in part coordinates onto one layer.
type pen struct {
	m *gocv.Mat
	p pose
}

func (d pen) disc(c vec, r float64, v uint8) {
	gocv.Circle(d.m, d.p.at(c), d.p.px(r), grey(v), -1)
}

func (d pen) ring(c vec, r, width float64, v uint8) {
	gocv.Circle(d.m, d.p.at(c), d.p.px(r), grey(v), d.p.px(width))
}

func (d pen) poly(v uint8, pts ...vec) {
	ps := make([]image.Point, len(pts))
	for i, q := range pts {
		ps[i] = d.p.at(q)
	}
	pv := gocv.NewPointsVectorFromPoints([][]image.Point{ps})
	defer pv.Close()
	gocv.FillPoly(d.m, pv, grey(v))
}

// line draws with a width in pixels, so thin marks stay thin on big parts.
func (d pen) line(a, b vec, widthPx int, v uint8) {
	gocv.Line(d.m, d.p.at(a), d.p.at(b), grey(v), max(1, widthPx))
}

func (d pen) ellipse(c vec, ax, ay, angleDeg, width float64, v uint8) {
	gocv.EllipseWithParams(d.m, d.p.at(c), image.Pt(d.p.px(ax), d.p.px(ay)),
		angleDeg+d.p.Theta*180/math.Pi, 0, 360, grey(v), d.p.px(width), gocv.Line8, 0)
}

// metal colours (BGR), drawn for every class alike so colour tells nothing.
var metals = [][3]float64{
	{172, 170, 166}, // bright steel
	{200, 192, 180}, // zinc, bluish
	{92, 160, 196},  // brass
	{118, 114, 110}, // dark steel
	{150, 155, 160}, // galvanised, warm
}

// look is everything about the camera, light and table of one shot.
type look struct {
	table     []float32 // BGR, Width×Height×3
	lightDir  vec       // where the light comes from (unit)
	lightGain float64   // strength of the lighting gradient
	vignette  float64
	shadowOff float64 // pixels
	shadowSig float64
	noise     float64 // sensor noise σ, grey levels
	blur      float64 // optics blur σ, pixels
	quality   int     // JPEG quality
}

func randomLook(rng *rand.Rand) look {
	a := rng.Float64() * 2 * math.Pi
	return look{
		table:     table(rng),
		lightDir:  vec{math.Cos(a), math.Sin(a)},
		lightGain: 0.1 + 0.25*rng.Float64(),
		vignette:  0.15 + 0.25*rng.Float64(),
		shadowOff: 5 + 10*rng.Float64(),
		shadowSig: 5 + 6*rng.Float64(),
		noise:     2.5 + 4*rng.Float64(),
		blur:      0.6 + 0.7*rng.Float64(),
		quality:   70 + rng.IntN(21),
	}
}

// table paints a textured work surface: rubber mat, wood or worn steel.
func table(rng *rand.Rand) []float32 {
	bases := [][3]float64{
		{70, 90, 80},    // green rubber mat
		{80, 118, 150},  // wood
		{95, 95, 92},    // grey mat
		{60, 62, 66},    // dark anti-static mat
		{120, 135, 140}, // worn steel sheet
	}
	base := bases[rng.IntN(len(bases))]
	out := make([]float32, Width*Height*3)
	blotch := smoothNoise(rng, 9, 7)
	var grain []float32
	if rng.IntN(2) == 0 {
		grain = smoothNoise(rng, 5, 160) // streaks along x, like wood or brushed metal
	} else {
		grain = smoothNoise(rng, 90, 70) // fine mottling, like a rubber mat
	}
	gs := 6 + 12*rng.Float64()
	for i := 0; i < Width*Height; i++ {
		k := 1 + 0.12*float64(blotch[i])
		g := gs * float64(grain[i])
		for c := 0; c < 3; c++ {
			out[3*i+c] = float32(base[c]*k + g)
		}
	}
	return out
}

// smoothNoise is value noise: a gw×gh grid of N(0,1), bilinearly enlarged.
func smoothNoise(rng *rand.Rand, gw, gh int) []float32 {
	grid := make([]float64, (gw+1)*(gh+1))
	for i := range grid {
		grid[i] = rng.NormFloat64()
	}
	out := make([]float32, Width*Height)
	for y := 0; y < Height; y++ {
		fy := float64(y) * float64(gh) / Height
		y0 := int(fy)
		ty := fy - float64(y0)
		for x := 0; x < Width; x++ {
			fx := float64(x) * float64(gw) / Width
			x0 := int(fx)
			tx := fx - float64(x0)
			a := grid[y0*(gw+1)+x0]*(1-tx) + grid[y0*(gw+1)+x0+1]*tx
			b := grid[(y0+1)*(gw+1)+x0]*(1-tx) + grid[(y0+1)*(gw+1)+x0+1]*tx
			out[y*Width+x] = float32(a*(1-ty) + b*ty)
		}
	}
	return out
}

// part is one object on the table with its fixed appearance.
type part struct {
	draw  func(l layers, p pose) // draws metal, dark and shine layers
	pose  pose
	metal [3]float64
	spec  vec     // highlight position, part units
	shade vec     // shading gradient direction
	gloss float64 // highlight strength
}

func randomPartLook(rng *rand.Rand) (metal [3]float64, spec, shade vec, gloss float64) {
	metal = metals[rng.IntN(len(metals))]
	for c := range metal {
		metal[c] *= 0.9 + 0.2*rng.Float64()
	}
	a := rng.Float64() * 2 * math.Pi
	spec = vec{0.6 * rng.Float64() * math.Cos(a), 0.6 * rng.Float64() * math.Sin(a)}
	b := rng.Float64() * 2 * math.Pi
	shade = vec{math.Cos(b), math.Sin(b)}
	gloss = 30 + 60*rng.Float64()
	return
}

// render composes the table, the parts with their shadows and the camera's
// light, noise and blur into an 8-bit BGR Mat the caller must Close.
// noiseRng draws the sensor noise, so video frames differ like a webcam's.
func render(lk look, parts []part, noiseRng *rand.Rand) gocv.Mat {
	img := make([]float32, len(lk.table))
	copy(img, lk.table)
	for _, pt := range parts {
		composePart(img, lk, pt)
	}
	// Uneven light: a gradient across the table and a vignette.
	for y := 0; y < Height; y++ {
		ny := (float64(y) - Height/2) / (Height / 2)
		for x := 0; x < Width; x++ {
			nx := (float64(x) - Width/2) / (Width / 2)
			k := (1 + lk.lightGain*(nx*lk.lightDir.X+ny*lk.lightDir.Y)) * (1 - lk.vignette*(nx*nx+ny*ny)/2)
			i := 3 * (y*Width + x)
			for c := 0; c < 3; c++ {
				v := float64(img[i+c])*k + lk.noise*noiseRng.NormFloat64()
				img[i+c] = float32(v)
			}
		}
	}
	buf := make([]byte, len(img))
	for i, v := range img {
		buf[i] = uint8(min(255, max(0, math.Round(float64(v)))))
	}
	m, _ := gocv.NewMatFromBytes(Height, Width, gocv.MatTypeCV8UC3, buf)
	gocv.GaussianBlur(m, &m, image.Pt(0, 0), lk.blur, lk.blur, gocv.BorderReflect101)
	return m
}

func composePart(img []float32, lk look, pt part) {
	l := newLayers()
	defer l.Close()
	pt.draw(l, pt.pose)

	soft := gocv.NewMat()
	defer soft.Close()
	gocv.GaussianBlur(l.metal, &soft, image.Pt(0, 0), 0.8, 0.8, gocv.BorderConstant)
	bevel := gocv.NewMat()
	defer bevel.Close()
	gocv.GaussianBlur(l.metal, &bevel, image.Pt(0, 0), 2+pt.pose.R/60, 0, gocv.BorderConstant)
	// The shadow falls away from the light.
	shift := gocv.NewMat()
	defer shift.Close()
	dx, dy := -lk.lightDir.X*lk.shadowOff, -lk.lightDir.Y*lk.shadowOff
	tm := gocv.NewMatWithSize(2, 3, gocv.MatTypeCV64F)
	defer tm.Close()
	tm.SetDoubleAt(0, 0, 1)
	tm.SetDoubleAt(0, 2, dx)
	tm.SetDoubleAt(1, 1, 1)
	tm.SetDoubleAt(1, 2, dy)
	gocv.WarpAffine(l.metal, &shift, tm, image.Pt(Width, Height))
	shadow := gocv.NewMat()
	defer shadow.Close()
	gocv.GaussianBlur(shift, &shadow, image.Pt(0, 0), lk.shadowSig, 0, gocv.BorderConstant)
	dark := gocv.NewMat()
	defer dark.Close()
	gocv.GaussianBlur(l.dark, &dark, image.Pt(0, 0), 0.7, 0, gocv.BorderConstant)
	shine := gocv.NewMat()
	defer shine.Close()
	gocv.GaussianBlur(l.shine, &shine, image.Pt(0, 0), 1.5, 0, gocv.BorderConstant)

	a, _ := soft.DataPtrUint8()
	bv, _ := bevel.DataPtrUint8()
	sh, _ := shadow.DataPtrUint8()
	dk, _ := dark.DataPtrUint8()
	sn, _ := shine.DataPtrUint8()
	p := pt.pose
	sx, sy := p.at(pt.spec).X, p.at(pt.spec).Y
	sig2 := 2 * (0.35 * p.R) * (0.35 * p.R)
	for y := 0; y < Height; y++ {
		for x := 0; x < Width; x++ {
			i := y*Width + x
			if sh[i] > 0 {
				k := float32(1 - 0.5*float64(sh[i])/255)
				for c := 0; c < 3; c++ {
					img[3*i+c] *= k
				}
			}
			if a[i] == 0 {
				continue
			}
			alpha := float64(a[i]) / 255
			u := ((float64(x)-p.CX)*pt.shade.X + (float64(y)-p.CY)*pt.shade.Y) / p.R
			lum := (0.78 + 0.22*u) * (0.55 + 0.45*float64(bv[i])/255) * (1 - 0.8*float64(dk[i])/255)
			d2 := (float64(x)-float64(sx))*(float64(x)-float64(sx)) + (float64(y)-float64(sy))*(float64(y)-float64(sy))
			gl := pt.gloss*math.Exp(-d2/sig2) + 120*float64(sn[i])/255
			for c := 0; c < 3; c++ {
				v := pt.metal[c]*lum + gl
				img[3*i+c] = float32(alpha*v + (1-alpha)*float64(img[3*i+c]))
			}
		}
	}
}
