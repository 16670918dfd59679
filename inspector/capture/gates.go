package capture

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"math"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Gates are the quality checks every frame passes before it is kept. The
// zero value of a limit takes its default; a negative limit turns its gate
// off.
type Gates struct {
	// MinSharpness is the lowest variance of the Laplacian (4-neighbour
	// kernel, full resolution) over the part: the bounding box of what
	// differs from the table, or the whole frame when nothing does.
	MinSharpness float64
	// MaxClipped is the highest share of pixels at black (≤ 3) or white
	// (≥ 252). Default 0.05.
	MaxClipped float64
	// MinPresence is the share of the view that must differ from the empty
	// table (by inspector.PresenceLevel, as the station) for a part to be
	// present. Default a quarter of inspector.PresenceShare: the station
	// measures inside its ROI, capture over the whole frame, where a small,
	// dark part on a dark mat (the demo's black-oxide ball bearing) covers
	// 0.9 %. The sensor noise of an 80×60 copy of the empty table stays far
	// below the level, so 0.5 % (24 of 4800 pixels) still means a part.
	MinPresence float64
	// MaxDuplicate is the largest Signature distance (mean grey levels) at
	// which a frame counts as a near duplicate of an earlier frame of the
	// session. Default 0.5: a second shot of the same view differs by
	// 0.1–0.25 (sensor noise), the demo parts' views 30° apart by 0.9 or more.
	MaxDuplicate float64
	// Background is the empty table (any size; it is shrunk as the frames
	// are). Without it the table is estimated from the frame's border.
	Background image.Image
}

func (g Gates) withDefaults() Gates {
	if g.MinSharpness == 0 {
		g.MinSharpness = 15
	}
	if g.MaxClipped == 0 {
		g.MaxClipped = 0.05
	}
	if g.MinPresence == 0 {
		g.MinPresence = inspector.PresenceShare / 4
	}
	if g.MaxDuplicate == 0 {
		g.MaxDuplicate = 0.5
	}
	return g
}

// The pixel loops below are marked go:norace: each reads and writes only
// buffers its caller owns, and the race detector would slow the capture
// tests' frames about twentyfold.

// Signature is a frame's tiny embedding for the near-duplicate gate: a
// 24×18 grey thumbnail with its mean removed (offset by 128). Averaging
// over cells of some 27×27 pixels drowns the sensor noise that makes bitwise
// perceptual hashes (dHash) flip on flat regions, while a part that turned
// or moved changes the cells it covers.
type Signature []byte

// Signature size.
const sigW, sigH = 24, 18

// Distance is the mean absolute difference of two signatures in grey
// levels (0 for identical views); 255 when the sizes differ.
//
//go:norace
func (s Signature) Distance(o Signature) float64 {
	if len(s) != len(o) || len(s) == 0 {
		return 255
	}
	d := 0
	for i := range s {
		d += abs(int(s[i]) - int(o[i]))
	}
	return float64(d) / float64(len(s))
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// String is the signature in hex.
func (s Signature) String() string { return hex.EncodeToString(s) }

// ParseSignature reads a signature String wrote.
func ParseSignature(v string) (Signature, error) {
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != sigW*sigH {
		return nil, fmt.Errorf("signature %.16q…: want %d hex bytes", v, sigW*sigH)
	}
	return b, nil
}

//go:norace
func signature(g *image.Gray) Signature {
	t := shrink(g, sigW, sigH)
	sum := 0
	for _, v := range t.Pix {
		sum += int(v)
	}
	mean := sum / len(t.Pix)
	out := make(Signature, len(t.Pix))
	for i, v := range t.Pix {
		out[i] = uint8(max(0, min(255, int(v)-mean+128)))
	}
	return out
}

// Measure is what the gates measured on one frame.
type Measure struct {
	Sharpness float64
	Clipped   float64
	Presence  float64
	Signature Signature
	// Duplicate is the index of the nearest earlier frame and Distance its
	// signature distance (-1 and 255 when there is none).
	Duplicate int
	Distance  float64
}

// Check measures img and returns the measures and, when a gate fails, why
// (an empty reason means the frame passes). earlier are the hashes of the
// session's accepted frames.
func (g Gates) Check(img image.Image, earlier []Signature) (Measure, string) {
	g = g.withDefaults()
	grey := Grey(img)
	m := Measure{Clipped: ClippedShare(grey), Duplicate: -1, Distance: 255}
	small := shrink(grey, 80, 60)
	var bg *image.Gray
	if g.Background != nil {
		bg = shrink(Grey(g.Background), 80, 60)
	}
	var box image.Rectangle
	m.Presence, box = presence(small, bg)
	// Focus is judged on the part: a flat table around a small part would
	// otherwise drown a blurred part in the table's sensor noise.
	sharp := grey
	if !box.Empty() {
		r := grey.Rect
		sx, sy := float64(r.Dx())/80, float64(r.Dy())/60
		crop := image.Rect(int(float64(box.Min.X)*sx), int(float64(box.Min.Y)*sy), int(float64(box.Max.X)*sx), int(float64(box.Max.Y)*sy)).
			Add(r.Min).Inset(-8).Intersect(r)
		sharp = grey.SubImage(crop).(*image.Gray)
	}
	m.Sharpness = LaplacianVariance(sharp)
	m.Signature = signature(grey)
	for i, e := range earlier {
		if d := m.Signature.Distance(e); d < m.Distance {
			m.Distance, m.Duplicate = d, i
		}
	}
	switch {
	case g.MinPresence > 0 && m.Presence < g.MinPresence:
		return m, fmt.Sprintf("no part in view: %.1f %% of the view differs from the empty table (need %.1f %%)", 100*m.Presence, 100*g.MinPresence)
	case g.MinSharpness > 0 && m.Sharpness < g.MinSharpness:
		return m, fmt.Sprintf("too blurry: sharpness %.1f (need %.0f); hold the part still or refocus", m.Sharpness, g.MinSharpness)
	case g.MaxClipped > 0 && m.Clipped > g.MaxClipped:
		return m, fmt.Sprintf("badly exposed: %.1f %% of the pixels are black or white (at most %.0f %%)", 100*m.Clipped, 100*g.MaxClipped)
	case g.MaxDuplicate > 0 && m.Duplicate >= 0 && m.Distance <= g.MaxDuplicate:
		return m, fmt.Sprintf("near duplicate of frame %d (differs by %.1f grey levels, need more than %.1f); turn the part further", m.Duplicate+1, m.Distance, g.MaxDuplicate)
	}
	return m, ""
}

// Grey returns img's luminance. A decoded JPEG's Y plane is used as it is.
func Grey(img image.Image) *image.Gray {
	switch t := img.(type) {
	case *image.Gray:
		return t
	case *image.YCbCr:
		r := t.Rect
		return &image.Gray{Pix: t.Y[t.YOffset(r.Min.X, r.Min.Y):], Stride: t.YStride, Rect: r}
	}
	g := image.NewGray(img.Bounds())
	draw.Draw(g, g.Rect, img, img.Bounds().Min, draw.Src)
	return g
}

// LaplacianVariance is the variance of the 4-neighbour Laplacian of g: the
// usual focus measure (a sharp edge gives large values, blur flattens them).
//
//go:norace
func LaplacianVariance(g *image.Gray) float64 {
	r := g.Rect
	w, h := r.Dx(), r.Dy()
	if w < 3 || h < 3 {
		return 0
	}
	var sum, sq float64
	n := 0
	for y := 1; y < h-1; y++ {
		row := g.Pix[y*g.Stride:]
		up := g.Pix[(y-1)*g.Stride:]
		down := g.Pix[(y+1)*g.Stride:]
		for x := 1; x < w-1; x++ {
			l := float64(int(up[x]) + int(down[x]) + int(row[x-1]) + int(row[x+1]) - 4*int(row[x]))
			sum += l
			sq += l * l
			n++
		}
	}
	mean := sum / float64(n)
	return sq/float64(n) - mean*mean
}

// ClippedShare is the share of g's pixels at black (≤ 3) or white (≥ 252).
//
//go:norace
func ClippedShare(g *image.Gray) float64 {
	w, h := g.Rect.Dx(), g.Rect.Dy()
	if w == 0 || h == 0 {
		return 0
	}
	n := 0
	for y := range h {
		for _, v := range g.Pix[y*g.Stride : y*g.Stride+w] {
			if v <= 3 || v >= 252 {
				n++
			}
		}
	}
	return float64(n) / float64(w*h)
}

// shrink area-averages g down to w×h.
//
//go:norace
func shrink(g *image.Gray, w, h int) *image.Gray {
	out := image.NewGray(image.Rect(0, 0, w, h))
	sw, sh := g.Rect.Dx(), g.Rect.Dy()
	for y := range h {
		y0, y1 := y*sh/h, max((y+1)*sh/h, y*sh/h+1)
		for x := range w {
			x0, x1 := x*sw/w, max((x+1)*sw/w, x*sw/w+1)
			s, n := 0, 0
			for yy := y0; yy < y1 && yy < sh; yy++ {
				row := g.Pix[yy*g.Stride:]
				for xx := x0; xx < x1 && xx < sw; xx++ {
					s += int(row[xx])
					n++
				}
			}
			if n > 0 {
				out.Pix[y*w+x] = uint8(s / n)
			}
		}
	}
	return out
}

// presence is the share of small's pixels that differ from the empty table
// by more than inspector.PresenceLevel, and their bounding box. Without a
// background the table is the median of small's outer ring, which suits a
// part laid in the middle.
//
//go:norace
func presence(small, bg *image.Gray) (float64, image.Rectangle) {
	w, h := small.Rect.Dx(), small.Rect.Dy()
	n := 0
	var box image.Rectangle
	count := func(i int, ref float64) {
		if math.Abs(float64(small.Pix[i])-ref) > inspector.PresenceLevel {
			n++
			box = box.Union(image.Rect(i%w, i/w, i%w+1, i/w+1))
		}
	}
	if bg != nil {
		for i := range small.Pix {
			count(i, float64(bg.Pix[i]))
		}
		return float64(n) / float64(len(small.Pix)), box
	}
	var hist [256]int
	ring := 0
	for y := range h {
		for x := range w {
			if x < 3 || y < 3 || x >= w-3 || y >= h-3 {
				hist[small.Pix[y*w+x]]++
				ring++
			}
		}
	}
	med, acc := 0, 0
	for v, c := range hist {
		acc += c
		if 2*acc >= ring {
			med = v
			break
		}
	}
	for i := range small.Pix {
		count(i, float64(med))
	}
	return float64(n) / float64(len(small.Pix)), box
}

func decodeJPEG(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }
