package demo

import (
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"unsafe"

	"gocv.io/x/gocv"
)

// Frame size of the simulated webcam.
const (
	Width  = 640
	Height = 480
)

// vec is a point in pixel or part units.
type vec struct{ X, Y float64 }

// f32bytes views a float32 slice as bytes so gocv can wrap it without a copy.
func f32bytes(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*4)
}

// smoothNoise returns w×h values in about [-1, 1]: a cw×ch grid of uniform
// random values upsampled with bicubic interpolation. Few cells give broad
// blotches; unequal cw and ch give streaks (wood grain, brushing).
// The pixel loops below are marked go:norace: each works on buffers its
// caller owns (a frame being drawn), and the race detector would make the
// race-checked test suite, which draws demo images, twenty times slower.
//
//go:norace
func smoothNoise(rng *rand.Rand, w, h, cw, ch int) []float32 {
	small := make([]float32, cw*ch)
	for i := range small {
		small[i] = float32(rng.Float64()*2 - 1)
	}
	src, err := gocv.NewMatFromBytes(ch, cw, gocv.MatTypeCV32F, f32bytes(small))
	if err != nil {
		panic(err) // only fails for an empty slice, which cw, ch > 0 rule out
	}
	defer src.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	gocv.Resize(src, &dst, image.Pt(w, h), 0, 0, gocv.InterpolationCubic)
	out := make([]float32, w*h)
	p, err := dst.DataPtrFloat32()
	if err != nil {
		panic(err)
	}
	copy(out, p)
	return out
}

// blurF32 blurs a w×h float field in place with a Gaussian of sigma pixels.
//
//go:norace
func blurF32(v []float32, w, h int, sigma float64) {
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV32F, f32bytes(v))
	if err != nil {
		panic(err)
	}
	defer m.Close()
	dst := gocv.NewMat()
	defer dst.Close()
	gocv.GaussianBlur(m, &dst, image.Point{}, sigma, sigma, gocv.BorderReplicate)
	p, err := dst.DataPtrFloat32()
	if err != nil {
		panic(err)
	}
	copy(v, p)
}

func gray(v uint8) color.RGBA { return color.RGBA{v, v, v, 255} }

// Sub-pixel drawing: OpenCV takes fixed-point coordinates with this many
// fractional bits, which keeps anti-aliased edges smooth under rotation.
const drawShift = 4

func fixp(p vec) image.Point {
	return image.Pt(int(math.Round(p.X*(1<<drawShift))), int(math.Round(p.Y*(1<<drawShift))))
}

func fillPoly(m *gocv.Mat, pts []vec, v uint8) {
	ip := make([]image.Point, len(pts))
	for i, p := range pts {
		ip[i] = fixp(p)
	}
	pv := gocv.NewPointsVectorFromPoints([][]image.Point{ip})
	defer pv.Close()
	gocv.FillPolyWithParams(m, pv, gray(v), gocv.LineAA, drawShift, image.Point{})
}

func fillCircle(m *gocv.Mat, c vec, r float64, v uint8) {
	gocv.CircleWithParams(m, fixp(c), int(math.Round(r*(1<<drawShift))), gray(v), -1, gocv.LineAA, drawShift)
}

// thickLine draws a segment of the given width with round caps.
func thickLine(m *gocv.Mat, a, b vec, width float64, v uint8) {
	dx, dy := b.X-a.X, b.Y-a.Y
	l := math.Hypot(dx, dy)
	if l > 0 {
		nx, ny := -dy/l*width/2, dx/l*width/2
		fillPoly(m, []vec{{a.X + nx, a.Y + ny}, {b.X + nx, b.Y + ny}, {b.X - nx, b.Y - ny}, {a.X - nx, a.Y - ny}}, v)
	}
	fillCircle(m, a, width/2, v)
	fillCircle(m, b, width/2, v)
}

// xform maps part units (origin at the part's centre) to sprite pixels.
type xform struct{ cx, cy, s, cos, sin float64 }

func newXform(cx, cy, scale, angle float64) xform {
	return xform{cx, cy, scale, math.Cos(angle), math.Sin(angle)}
}

func (t xform) p(x, y float64) vec {
	return vec{t.cx + t.s*(x*t.cos-y*t.sin), t.cy + t.s*(x*t.sin+y*t.cos)}
}

func (t xform) inv(px, py float64) (float64, float64) {
	dx, dy := (px-t.cx)/t.s, (py-t.cy)/t.s
	return dx*t.cos + dy*t.sin, -dx*t.sin + dy*t.cos
}

// sprite is one part rendered as a height field on a square canvas.
type sprite struct {
	S      int
	t      xform
	h      []float32 // height in pixels above the table
	a      []float32 // coverage 0..1
	alb    []float32 // albedo multiplier
	def    []uint8   // 1 where a defect is
	defMod []float32 // colour factor on defect pixels: <1 darker, >1 brighter, or scratchMark
}

func newSprite(size int, t xform) *sprite {
	n := size * size
	return &sprite{S: size, t: t, h: make([]float32, n), a: make([]float32, n), alb: make([]float32, n),
		def: make([]uint8, n), defMod: make([]float32, n)}
}

// layer is one solid piece of a part: a flat shape at height base whose
// edges round off over bevel part units (bevel equal to a wire's radius gives
// a round wire). mod adds height at local coordinates (x, y), d part units in
// from the shape's edge.
type layer struct {
	base, bevel float64
	albedo      float32
	draw        func(m *gocv.Mat)
	mod         func(x, y, d float64) float64
}

//go:norace
func (sp *sprite) add(l layer) {
	m := gocv.Zeros(sp.S, sp.S, gocv.MatTypeCV8U)
	defer m.Close()
	l.draw(&m)
	dist := gocv.NewMat()
	defer dist.Close()
	labels := gocv.NewMat()
	defer labels.Close()
	gocv.DistanceTransform(m, &dist, &labels, gocv.DistL2, gocv.DistanceMask5, gocv.DistanceLabelCComp)
	mb, err := m.DataPtrUint8()
	if err != nil {
		panic(err)
	}
	db, err := dist.DataPtrFloat32()
	if err != nil {
		panic(err)
	}
	s := sp.t.s
	for i, v := range mb {
		if v == 0 {
			continue
		}
		d := float64(db[i]) / s
		h := l.base
		if l.bevel > 0 {
			t := math.Min(d/l.bevel, 1)
			h += l.bevel * math.Sqrt(1-(1-t)*(1-t))
		}
		if l.mod != nil {
			x, y := sp.t.inv(float64(i%sp.S), float64(i/sp.S))
			h += l.mod(x, y, d)
		}
		hf := float32(h * s)
		if hf > sp.h[i] || sp.a[i] == 0 {
			sp.h[i] = hf
			sp.alb[i] = l.albedo
		}
		if a := float32(v) / 255; a > sp.a[i] {
			sp.a[i] = a
		}
	}
}

// scratchMark as a mark's colour factor draws a scratch that is dark on
// bright metal and bright where it cuts through a dark coating.
const scratchMark = -1

// crackLip as a mark's colour factor draws the lit edge along a crack,
// which is what makes a crack visible on dark metal.
const crackLip = -2

// mark records a defect drawn by draw; mod is its colour factor.
func (sp *sprite) mark(mod float32, draw func(m *gocv.Mat)) {
	m := gocv.Zeros(sp.S, sp.S, gocv.MatTypeCV8U)
	defer m.Close()
	draw(&m)
	mb, err := m.DataPtrUint8()
	if err != nil {
		panic(err)
	}
	for i, v := range mb {
		if v >= 128 && sp.a[i] > 0.5 {
			sp.def[i] = 1
			sp.defMod[i] = mod
		}
	}
}

// metal is a surface colour in linear-ish RGB 0..1.
type metal struct {
	name string
	rgb  [3]float64
	spec float64 // strength of the specular highlight
}

// metals are drawn independently of the class so colour tells nothing about it.
var metals = []metal{
	{"steel", [3]float64{0.66, 0.68, 0.70}, 0.9},
	{"zinc", [3]float64{0.70, 0.73, 0.78}, 0.8},
	{"yellow-zinc", [3]float64{0.76, 0.68, 0.40}, 0.8},
	{"brass", [3]float64{0.78, 0.60, 0.30}, 1.0},
	{"black-oxide", [3]float64{0.28, 0.28, 0.30}, 0.6},
	{"stainless", [3]float64{0.62, 0.62, 0.62}, 1.0},
}

// lightSetup is the scene's light as the part's shading sees it.
type lightSetup struct {
	L      [3]float64 // direction to the key light
	envDir [3]float64 // direction of the brightest part of the room (window, lamp)
	envPow float64
	shin   float64
}

func randLight(rng *rand.Rand) lightSetup {
	return lightFrom(rng, rng.Float64()*2*math.Pi)
}

// stationLight is the defect station's lamp: mounted at one side of the
// table, so its direction varies only as much as people bump it.
func stationLight(rng *rand.Rand) lightSetup {
	return lightFrom(rng, 0.75*math.Pi+(rng.Float64()-0.5)*0.5)
}

func lightFrom(rng *rand.Rand, az float64) lightSetup {
	el := (35 + rng.Float64()*30) * math.Pi / 180
	eaz := az + (rng.Float64()-0.5)*1.2
	eel := (30 + rng.Float64()*35) * math.Pi / 180
	return lightSetup{
		L:      [3]float64{math.Cos(az) * math.Cos(el), math.Sin(az) * math.Cos(el), math.Sin(el)},
		envDir: [3]float64{math.Cos(eaz) * math.Cos(eel), math.Sin(eaz) * math.Cos(eel), math.Sin(eel)},
		envPow: 1.5 + rng.Float64()*2,
		shin:   18 + rng.Float64()*40,
	}
}

// shade turns the sprite's height field into colour (S*S*3, RGB) with a
// diffuse term, a reflected environment (which gives metal its contrasty
// bands on curved faces) and a specular highlight.
//
//go:norace
func (sp *sprite) shade(rng *rand.Rand, mt metal, ls lightSetup) []float32 {
	S := sp.S
	col := make([]float32, S*S*3)
	// Edges drawn on the pixel grid step in height; softened, they shade
	// like machined edges instead of showing jagged dark rims.
	h := append([]float32(nil), sp.h...)
	blurF32(h, S, S, 0.8)
	// Surface smudges and a brightness ramp across the part: flat faces of
	// real parts reflect a room that is not uniform.
	smudge := smoothNoise(rng, S, S, 5, 5)
	fine := smoothNoise(rng, S, S, S/8+2, S/8+2)
	ra := rng.Float64() * 2 * math.Pi
	rx, ry := math.Cos(ra), math.Sin(ra)
	rampK := 0.25 + rng.Float64()*0.35
	tint := [3]float64{}
	for c := range 3 {
		tint[c] = mt.rgb[c] * (0.95 + rng.Float64()*0.1)
	}
	// The lamp is near, so a flat face shows a highlight spot rather than
	// shining all over: the half vector turns with the position.
	spotX := float64(S) * (0.5 + (rng.Float64()-0.5)*1.2)
	spotY := float64(S) * (0.5 + (rng.Float64()-0.5)*1.2)
	spotD := float64(S) * (0.7 + 0.7*rng.Float64())
	at := func(x, y int) float64 {
		x = min(max(x, 0), S-1)
		y = min(max(y, 0), S-1)
		return float64(h[y*S+x])
	}
	dark := (mt.rgb[0]+mt.rgb[1]+mt.rgb[2])/3 < 0.4
	for y := range S {
		for x := range S {
			i := y*S + x
			if sp.a[i] == 0 {
				continue
			}
			hf := float64(fine[i]) * 0.08
			dx := (at(x+1, y) - at(x-1, y)) / 2
			dy := (at(x, y+1) - at(x, y-1)) / 2
			nx, ny, nz := -dx+hf*0.3, -dy-hf*0.3, 1.0
			n := math.Sqrt(nx*nx + ny*ny + nz*nz)
			nx, ny, nz = nx/n, ny/n, nz/n
			diff := math.Max(0, nx*ls.L[0]+ny*ls.L[1]+nz*ls.L[2])
			// Reflection of the view ray (straight down) about the normal.
			rx2, ry2, rz2 := 2*nz*nx, 2*nz*ny, 2*nz*nz-1
			e := 0.5 + 0.5*(rx2*ls.envDir[0]+ry2*ls.envDir[1]+rz2*ls.envDir[2])
			e = math.Pow(math.Max(e, 0), ls.envPow)
			u := (float64(x)/float64(S)-0.5)*rx + (float64(y)/float64(S)-0.5)*ry
			e *= 1 + rampK*u*2 + 0.12*float64(smudge[i])
			hx, hy := -(float64(x)-spotX)/spotD, -(float64(y)-spotY)/spotD
			hn := math.Sqrt(hx*hx + hy*hy + 1)
			spc := math.Pow(math.Max(0, (nx*hx+ny*hy+nz)/hn), ls.shin) * mt.spec
			alb := float64(sp.alb[i])
			for c := range 3 {
				v := tint[c]*alb*(0.1+0.25*diff+0.72*e) + spc*(0.55*tint[c]+0.45)
				if sp.def[i] != 0 {
					switch m := float64(sp.defMod[i]); {
					case m == scratchMark && dark:
						v = 0.35*v + 0.5 // through black oxide to bare steel
					case m == scratchMark:
						v *= 0.45
					case m == crackLip && dark:
						v = 0.4*v + 0.35 // the broken edge catches light
					case m == crackLip:
						v = math.Min(v*1.12, 0.97)
					default:
						v = math.Min(v*m, 0.97)
					}
				}
				col[i*3+c] = float32(v)
			}
		}
	}
	return col
}

// scene is the table, light and camera settings shared by every part placed
// on it. The feed keeps one scene for all its frames.
type scene struct {
	bg        []float32 // W*H*3 RGB table colour
	light     []float32 // W*H illumination factor
	tint      [3]float32
	lights    lightSetup
	noise     float64 // sensor noise sigma in 8-bit levels
	blur      float64 // lens blur sigma in pixels
	quality   int     // JPEG quality
	shadowK   float64 // how dark a shadow gets
	shadowSig float64
	shadowOff vec
	// table names the background for the dataset's capture conditions.
	table string
}

var (
	woods = [][3]float64{{0.78, 0.62, 0.42}, {0.62, 0.45, 0.28}, {0.82, 0.70, 0.52}, {0.45, 0.32, 0.21}}
	mats  = [][3]float64{{0.30, 0.31, 0.32}, {0.18, 0.38, 0.30}, {0.20, 0.30, 0.44}, {0.15, 0.15, 0.16}}
	// matNames name the mats for the capture conditions (conditions.json).
	matNames = []string{"grey", "green", "blue", "black"}
)

// sceneKind says where a picture is taken.
type sceneKind int

const (
	// sceneAnywhere is a photo on any table: wood or a mat of any colour,
	// light from anywhere (the spare-parts catalogue).
	sceneAnywhere sceneKind = iota
	// sceneFeed is a station's plain rubber mat of any colour; MJPG frames
	// of it stay small.
	sceneFeed
	// sceneStation is the defect station: always its own grey mat and its
	// lamp at one side; exposure, noise and focus still vary from shot to
	// shot as with a cheap webcam.
	sceneStation
)

// newScene draws a table, light and camera.
//
//go:norace
func newScene(rng *rand.Rand, kind sceneKind) *scene {
	sc := &scene{bg: make([]float32, Width*Height*3), light: make([]float32, Width*Height)}
	W, H := Width, Height
	feed := kind != sceneAnywhere
	coarse := smoothNoise(rng, W, H, 5, 4)
	if rng.IntN(2) == 0 && !feed {
		base := woods[rng.IntN(len(woods))]
		sc.table = "wood"
		gw, gh, sw, sh := 5, 48, 12, 240
		grain := smoothNoise(rng, W, H, gw, gh)
		warp := smoothNoise(rng, W, H, 4, 3)
		streak := smoothNoise(rng, W, H, sw, sh)
		freq := 8 + rng.Float64()*10
		slope := (rng.Float64() - 0.5) * 0.15
		for y := range H {
			for x := range W {
				i := y*W + x
				u := float64(y) + slope*float64(x)
				ring := math.Sin((u/float64(H)*freq + 0.9*float64(warp[i]) + 0.35*float64(grain[i])) * 2 * math.Pi)
				g := 0.5 + 0.5*ring
				g *= g
				g *= g // dark latewood lines: the fourth power narrows them
				f := 1 - 0.16*g - 0.07*float64(streak[i]) + 0.06*float64(coarse[i])
				for c := range 3 {
					sc.bg[i*3+c] = float32(base[c] * f)
				}
			}
		}
	} else {
		mi := rng.IntN(len(mats))
		if kind == sceneStation {
			mi = 0
		}
		base := mats[mi]
		sc.table = "mat " + matNames[mi]
		blotch := smoothNoise(rng, W, H, 30, 22)
		grid := rng.IntN(2) == 0 && !feed
		speckle := 0.1
		if feed {
			speckle = 0.03
		}
		step := 40 + rng.IntN(30)
		for y := range H {
			for x := range W {
				i := y*W + x
				f := 1 + 0.05*float64(coarse[i]) + 0.05*float64(blotch[i]) + (rng.Float64()-0.5)*speckle
				if grid && (x%step == 0 || y%step == 0) {
					f += 0.25
				}
				for c := range 3 {
					sc.bg[i*3+c] = float32(base[c] * f)
				}
			}
		}
	}
	// Uneven light: a ramp plus a vignette around an off-centre hot spot.
	exp := 0.9 + rng.Float64()*0.25
	gx, gy := (rng.Float64()-0.5)*0.5, (rng.Float64()-0.5)*0.5
	hx, hy := W/2+int((rng.Float64()-0.5)*float64(W)/2), H/2+int((rng.Float64()-0.5)*float64(H)/2)
	vig := 0.25 + rng.Float64()*0.3
	diag := math.Hypot(float64(W), float64(H))
	for y := range H {
		for x := range W {
			dx, dy := float64(x-hx), float64(y-hy)
			r2 := (dx*dx + dy*dy) / (diag * diag)
			l := exp * (1 + gx*(float64(x)/float64(W)-0.5) + gy*(float64(y)/float64(H)-0.5)) * (1 - vig*r2*1.8)
			sc.light[y*W+x] = float32(l)
		}
	}
	t := (rng.Float64() - 0.4) * 0.12
	sc.tint = [3]float32{float32(1 + t), 1, float32(1 - t)}
	sc.lights = randLight(rng)
	if kind == sceneStation {
		sc.lights = stationLight(rng)
	}
	sc.noise = 2 + rng.Float64()*3
	sc.blur = 0.5 + rng.Float64()*0.6
	sc.quality = 70 + rng.IntN(21)
	sc.shadowK = 0.35 + rng.Float64()*0.3
	sc.shadowSig = 4 + rng.Float64()*5
	d := 4 + rng.Float64()*8
	sc.shadowOff = vec{-sc.lights.L[0] * d / math.Hypot(sc.lights.L[0], sc.lights.L[1]), -sc.lights.L[1] * d / math.Hypot(sc.lights.L[0], sc.lights.L[1])}
	return sc
}

// shadowOf is the blurred coverage of a sprite on a canvas padded by pad.
//
//go:norace
func (sc *scene) shadowOf(sp *sprite) (sh []float32, pad int) {
	pad = int(3*sc.shadowSig) + 2
	n := sp.S + 2*pad
	sh = make([]float32, n*n)
	for y := range sp.S {
		copy(sh[(y+pad)*n+pad:(y+pad)*n+pad+sp.S], sp.a[y*sp.S:(y+1)*sp.S])
	}
	blurF32(sh, n, n, sc.shadowSig)
	return sh, pad
}

// placed is a shaded sprite ready to put on the table.
type placed struct {
	sp     *sprite
	col    []float32
	shadow []float32
	pad    int
}

func (sc *scene) prepare(rng *rand.Rand, sp *sprite, mt metal) placed {
	sh, pad := sc.shadowOf(sp)
	return placed{sp: sp, col: sp.shade(rng, mt, sc.lights), shadow: sh, pad: pad}
}

// compose draws the table with the part's top-left corner at (ox, oy) into
// frame (W*H*3); a nil part gives the empty table. partMask and defMask,
// when not nil, receive the part's and the defect's pixels.
//
//go:norace
func (sc *scene) compose(frame []float32, p *placed, ox, oy int, partMask, defMask []uint8) {
	copy(frame, sc.bg)
	if p == nil {
		return
	}
	W, H := Width, Height
	n := p.sp.S + 2*p.pad
	sx, sy := ox-p.pad+int(math.Round(sc.shadowOff.X)), oy-p.pad+int(math.Round(sc.shadowOff.Y))
	for y := range n {
		fy := sy + y
		if fy < 0 || fy >= H {
			continue
		}
		for x := range n {
			fx := sx + x
			if fx < 0 || fx >= W {
				continue
			}
			k := 1 - float32(sc.shadowK)*p.shadow[y*n+x]
			j := (fy*W + fx) * 3
			frame[j] *= k
			frame[j+1] *= k
			frame[j+2] *= k
		}
	}
	S := p.sp.S
	for y := range S {
		fy := oy + y
		if fy < 0 || fy >= H {
			continue
		}
		for x := range S {
			fx := ox + x
			if fx < 0 || fx >= W {
				continue
			}
			i := y*S + x
			a := p.sp.a[i]
			if a == 0 {
				continue
			}
			j := (fy*W + fx) * 3
			for c := range 3 {
				frame[j+c] = frame[j+c]*(1-a) + p.col[i*3+c]*a
			}
			if partMask != nil && a >= 0.5 {
				partMask[fy*W+fx] = 1
			}
			if defMask != nil && p.sp.def[i] != 0 {
				defMask[fy*W+fx] = 1
			}
		}
	}
}

// camera turns a composed frame into the 8-bit BGR Mat a webcam would
// deliver: light, sensor noise, lens blur. buf must hold W*H*3 bytes and
// backs the returned Mat, which the caller closes.
//
//go:norace
func (sc *scene) camera(rng *rand.Rand, frame []float32, buf []byte) gocv.Mat {
	for i := range Width * Height {
		l := sc.light[i]
		ln := normFloat64(rng) * sc.noise
		for c := range 3 {
			v := float64(frame[i*3+c]*l*sc.tint[c])*255 + ln + normFloat64(rng)*sc.noise*0.35
			if v < 0 {
				v = 0
			} else if v > 255 {
				v = 255
			}
			buf[i*3+2-c] = uint8(v + 0.5)
		}
	}
	m, err := gocv.NewMatFromBytes(Height, Width, gocv.MatTypeCV8UC3, buf)
	if err != nil {
		panic(err)
	}
	gocv.GaussianBlur(m, &m, image.Point{}, sc.blur, sc.blur, gocv.BorderReflect101)
	return m
}

// encodeJPEG returns Go-owned JPEG bytes.
func encodeJPEG(m gocv.Mat, quality int) ([]byte, error) {
	nb, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, m, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return nil, err
	}
	defer nb.Close()
	return append([]byte(nil), nb.GetBytes()...), nil
}
