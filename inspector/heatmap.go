package inspector

import "context"

// Heatmap says where a model sees a defect: a coarse grid of per-region
// anomaly levels over the model's input, kept small enough to travel with
// every live decision and to be stored with the verdict record.
//
// Data holds W×H levels, row-major, 0 (like the good parts) to 255 (at or
// above Scale, the model's NOK threshold in its own score units). Area is
// the part of the stored frame the grid covers, as fractions of the
// frame's width and height; it may reach beyond the frame (0..1) where the
// model's input was padded (letterbox).
type Heatmap struct {
	// Method is how the map was made: HeatmapAnomaly or HeatmapOcclusion.
	Method string  `json:"method"`
	W      int     `json:"w"`
	H      int     `json:"h"`
	Data   []byte  `json:"data"` // base64 in JSON
	Scale  float32 `json:"scale"`
	// Score is the image's anomaly score (the largest patch distance).
	Score float32 `json:"score"`
	// Hot is the hottest region, in grid cells: the connected cells around
	// the hottest one that reach halfway from the map's median to its peak.
	Hot  Rect `json:"hot"`
	Area Area `json:"area"`
}

// Heatmap methods.
const (
	// HeatmapAnomaly: per-patch distance to the good parts (anomaly models).
	HeatmapAnomaly = "anomaly"
	// HeatmapOcclusion: how much hiding each cell lowers a classifier's
	// evidence for its verdict (see Occlusion).
	HeatmapOcclusion = "occlusion"
)

// Area is a rectangle in fractions of an image's width and height.
type Area struct {
	X float32 `json:"x"`
	Y float32 `json:"y"`
	W float32 `json:"w"`
	H float32 `json:"h"`
}

// Locator is a Classifier that also says where it looks: an anomaly model
// returns its scores (as Classify) and a heatmap. The station detects it
// and records the map with the verdict.
type Locator interface {
	Classifier
	Locate(ctx context.Context, input []float32) ([]float32, *Heatmap, error)
}

// HottestRegion returns the bounding box (in cells) of the 4-connected
// cells around the hottest cell of a w×h grid whose level reaches halfway
// from the grid's median level to the hottest one's: measured from the
// median, a defect stands out of an evenly warm part. An empty or all-zero
// grid gives an empty Rect.
func HottestRegion(data []byte, w, h int) Rect {
	if w <= 0 || h <= 0 || len(data) < w*h {
		return Rect{}
	}
	best := 0
	for i, v := range data[:w*h] {
		if v > data[best] {
			best = i
		}
	}
	if data[best] == 0 {
		return Rect{}
	}
	var hist [256]int
	for _, v := range data[:w*h] {
		hist[v]++
	}
	median, seen := 0, 0
	for v, n := range hist {
		if seen += n; 2*seen >= w*h {
			median = v
			break
		}
	}
	level := (median + int(data[best]) + 1) / 2
	done := make([]bool, w*h)
	stack := []int{best}
	done[best] = true
	x0, y0, x1, y1 := w, h, -1, -1
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x, y := i%w, i/w
		x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
		for _, d := range [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
			nx, ny := x+d[0], y+d[1]
			if nx < 0 || ny < 0 || nx >= w || ny >= h {
				continue
			}
			j := ny*w + nx
			if !done[j] && int(data[j]) >= level {
				done[j] = true
				stack = append(stack, j)
			}
		}
	}
	return Rect{X: x0, Y: y0, W: x1 - x0 + 1, H: y1 - y0 + 1}
}

// InputArea is the part of a w×h frame that a model input made by spec
// covers, in fractions of the frame (see Heatmap.Area): the ROI, and for
// letterbox and pad the padded square around it.
func InputArea(spec InputSpec, w, h int) Area {
	if w <= 0 || h <= 0 {
		return Area{W: 1, H: 1}
	}
	x, y, rw, rh := 0.0, 0.0, float64(w), float64(h)
	if r := spec.ROI; r != nil && !r.Empty() {
		x0, y0 := max(0, r.X), max(0, r.Y)
		x1, y1 := min(w, r.X+r.W), min(h, r.Y+r.H)
		if x1 > x0 && y1 > y0 {
			x, y, rw, rh = float64(x0), float64(y0), float64(x1-x0), float64(y1-y0)
		}
	}
	switch spec.Resize {
	case ResizeLetterbox, ResizePad:
		// The content is scaled to fit (pad: shrunk only) and centred;
		// the input spans more.
		s := min(float64(spec.Width)/rw, float64(spec.Height)/rh)
		if spec.Resize == ResizePad {
			s = min(s, 1)
		}
		iw, ih := float64(spec.Width)/s, float64(spec.Height)/s
		x, y, rw, rh = x-(iw-rw)/2, y-(ih-rh)/2, iw, ih
	case ResizeCenterCrop:
		s := max(float64(spec.Width)/rw, float64(spec.Height)/rh)
		iw, ih := float64(spec.Width)/s, float64(spec.Height)/s
		x, y, rw, rh = x+(rw-iw)/2, y+(rh-ih)/2, iw, ih
	}
	return Area{X: float32(x / float64(w)), Y: float32(y / float64(h)), W: float32(rw / float64(w)), H: float32(rh / float64(h))}
}
