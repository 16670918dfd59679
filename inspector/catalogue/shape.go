package catalogue

import "math"

// The catalogue vector of a photo is the backbone's embedding of the
// upright part joined with the part's silhouette (see PhotoVector).
const (
	// SilhouetteGrid is the side of the grid the upright silhouette is
	// pooled to: enough for a hole, a leg's length or a bolt's length, and
	// coarse enough that the segmentation's ragged edge does not count.
	SilhouetteGrid = 16
	// SilhouetteLen is the silhouette's share of the vector: half of the
	// grid, because the grid is made symmetric under a half turn (see
	// PhotoVector) and its other half repeats the first.
	SilhouetteLen = SilhouetteGrid * SilhouetteGrid / 2
	// SilhouetteWeight is the silhouette's weight against the embedding's 1
	// in the cosine of two vectors.
	SilhouetteWeight = 1.5
)

// VectorLen is the length of PhotoVector's result for an embedding of
// length dim: the scanned values and the Shape after them.
func VectorLen(dim int) int { return dim + SilhouetteLen + ShapeLen }

// PhotoVector returns a photo's catalogue vector from the backbone's
// embedding of the upright part (a unit vector) and its upright
// silhouette: SilhouetteGrid² values, row-major, each the share of the
// cell covered by the part (nil when no part was found: the silhouette
// then counts as nothing).
//
// Why a silhouette besides the embedding: an ImageNet embedding tells a
// bracket from a bolt, but hardly 2 holes from 3 per leg, a 60 from an 80 mm
// leg, or left from right. The silhouette of a part turned upright shows
// exactly these, and no table, light or blur. The upright view is only
// defined up to a half turn, so the grid is averaged with itself turned by
// a half turn; a half turn never mirrors, so left and right stay apart.
//
// Each part is centred on its own mean and scaled to unit length, the
// silhouette to √SilhouetteWeight: the cosine of two such vectors, as the
// Index takes it, weighs the silhouette's cosine by SilhouetteWeight
// against the embedding's (before the Index's own centring).
//
// The Shape follows as ShapeLen values (see Shape.Values): an Index built
// with Tail ShapeLen keeps them out of the scan and compares them on their
// own (see ShapeDistance).
func PhotoVector(embedding, silhouette []float32, shape *Shape) []float32 {
	out := make([]float32, len(embedding)+SilhouetteLen+ShapeLen)
	copy(out[len(embedding)+SilhouetteLen:], shape.Values())
	copy(out, embedding)
	unitCentred(out[:len(embedding)], 1)
	if len(silhouette) == SilhouetteGrid*SilhouetteGrid {
		n := len(silhouette)
		for i := range SilhouetteLen {
			out[len(embedding)+i] = (silhouette[i] + silhouette[n-1-i]) / 2
		}
		unitCentred(out[len(embedding):len(embedding)+SilhouetteLen], float32(math.Sqrt(SilhouetteWeight)))
	}
	return out
}

// unitCentred subtracts v's mean and scales it to length l; a constant v
// becomes zero.
func unitCentred(v []float32, l float32) {
	var m float64
	for _, x := range v {
		m += float64(x)
	}
	m /= float64(len(v))
	var s float64
	for i, x := range v {
		v[i] = float32(float64(x) - m)
		s += float64(v[i]) * float64(v[i])
	}
	if s == 0 {
		return
	}
	k := float64(l) / math.Sqrt(s)
	for i, x := range v {
		v[i] = float32(float64(x) * k)
	}
}
