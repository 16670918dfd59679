package anomaly

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Coreset picks k of the n points in x (n×dim, row-major) by greedy
// k-centre selection: each step takes the point farthest from every point
// taken so far, so the bank covers rare good patches as well as common
// ones, which a random subsample would drop. Distances are measured after a
// seeded Gaussian random projection to proj dimensions (0 or ≥ dim: none),
// which keeps the selection affordable and, by Johnson–Lindenstrauss,
// nearly the same. The first centre is drawn with seed; the result depends
// only on x, k, proj and seed, not on the number of workers. It returns the
// chosen indices in the order chosen.
func Coreset(x []float32, n, dim, k, proj int, seed uint64, workers int) []int {
	if k >= n {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	if k <= 0 {
		return nil
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	pts, d := x, dim
	if proj > 0 && proj < dim {
		pts, d = project(x, n, dim, proj, rng, workers), proj
	}
	minD := make([]float32, n)
	for i := range minD {
		minD[i] = float32(math.Inf(1))
	}
	chosen := make([]int, 0, k)
	cur := rng.IntN(n)
	type best struct {
		i int
		v float32
	}
	chunk := (n + workers - 1) / workers
	results := make([]best, workers)
	for len(chosen) < k {
		chosen = append(chosen, cur)
		c := pts[cur*d : (cur+1)*d]
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			lo, hi := w*chunk, min((w+1)*chunk, n)
			wg.Add(1)
			go func(w, lo, hi int) {
				defer wg.Done()
				b := best{-1, -1}
				for i := lo; i < hi; i++ {
					v := sqDist(pts[i*d:(i+1)*d], c)
					if v < minD[i] {
						minD[i] = v
					}
					if minD[i] > b.v {
						b = best{i, minD[i]}
					}
				}
				results[w] = b
			}(w, lo, hi)
		}
		wg.Wait()
		// Ties go to the lowest index, whatever the chunking.
		b := best{-1, -1}
		for _, r := range results[:workers] {
			if r.i >= 0 && (r.v > b.v || (r.v == b.v && r.i < b.i)) {
				b = r
			}
		}
		if b.i < 0 {
			break
		}
		cur = b.i
	}
	return chosen
}

func project(x []float32, n, dim, proj int, rng *rand.Rand, workers int) []float32 {
	m := make([]float32, dim*proj)
	s := float32(1 / math.Sqrt(float64(proj)))
	for i := range m {
		m[i] = float32(rng.NormFloat64()) * s
	}
	out := make([]float32, n*proj)
	parallel(n, workers, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			row := x[i*dim : (i+1)*dim]
			o := out[i*proj : (i+1)*proj]
			for j, v := range row {
				mj := m[j*proj : (j+1)*proj]
				for c := range o {
					o[c] += v * mj[c]
				}
			}
		}
	})
	return out
}

// parallel runs f over [0,n) in up to workers contiguous chunks.
func parallel(n, workers int, f func(lo, hi int)) {
	if workers <= 1 || n < 2*workers {
		f(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			f(lo, hi)
		}(lo, min(lo+chunk, n))
	}
	wg.Wait()
}

func sqDist(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		d0, d1, d2, d3 := a[i]-b[i], a[i+1]-b[i+1], a[i+2]-b[i+2], a[i+3]-b[i+3]
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(a); i++ {
		d := a[i] - b[i]
		s0 += d * d
	}
	return s0 + s1 + s2 + s3
}

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
		s4 += a[i+4] * b[i+4]
		s5 += a[i+5] * b[i+5]
		s6 += a[i+6] * b[i+6]
		s7 += a[i+7] * b[i+7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3) + (s4 + s5) + (s6 + s7)
}

// Bank is the memory bank: M good patch features of Dim values.
type Bank struct {
	Dim  int
	Data []float32 // M×Dim
	norm []float32 // squared norms
}

// NewBank returns a bank over data (M×dim, kept, not copied). It returns
// an error wrapping ErrBank for an empty bank or a length that is not a
// multiple of dim.
func NewBank(data []float32, dim int) (*Bank, error) {
	if dim <= 0 || len(data) == 0 || len(data)%dim != 0 {
		return nil, fmt.Errorf("%w: %d values for patches of %d", ErrBank, len(data), dim)
	}
	b := &Bank{Dim: dim, Data: data, norm: make([]float32, len(data)/dim)}
	for i := range b.norm {
		r := data[i*dim : (i+1)*dim]
		b.norm[i] = dot(r, r)
	}
	return b, nil
}

// Len is the number of patches in the bank.
func (b *Bank) Len() int { return len(b.norm) }

// Nearest writes into dst the Euclidean distance from each of the patches
// in q (len(dst)×Dim) to its nearest bank patch. It expands ‖q−b‖² as
// ‖q‖²+‖b‖²−2q·b, which turns the search into dot products, and splits the
// patches over workers goroutines.
func (b *Bank) Nearest(q []float32, dst []float32, workers int) {
	d := b.Dim
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	parallel(len(dst), workers, func(lo, hi int) {
		// Four query patches at a time share each bank row's load.
		i := lo
		for ; i+4 <= hi; i += 4 {
			q0, q1, q2, q3 := q[i*d:(i+1)*d], q[(i+1)*d:(i+2)*d], q[(i+2)*d:(i+3)*d], q[(i+3)*d:(i+4)*d]
			m0, m1, m2, m3 := float32(math.Inf(1)), float32(math.Inf(1)), float32(math.Inf(1)), float32(math.Inf(1))
			for j, nb := range b.norm {
				r := b.Data[j*d : (j+1)*d : (j+1)*d]
				a0, a1, a2, a3 := dot4(r, q0, q1, q2, q3)
				m0 = min(m0, nb-2*a0)
				m1 = min(m1, nb-2*a1)
				m2 = min(m2, nb-2*a2)
				m3 = min(m3, nb-2*a3)
			}
			dst[i] = dist(m0, q0)
			dst[i+1] = dist(m1, q1)
			dst[i+2] = dist(m2, q2)
			dst[i+3] = dist(m3, q3)
		}
		for ; i < hi; i++ {
			qi := q[i*d : (i+1)*d]
			m := float32(math.Inf(1))
			for j, nb := range b.norm {
				m = min(m, nb-2*dot(b.Data[j*d:(j+1)*d], qi))
			}
			dst[i] = dist(m, qi)
		}
	})
}

func dist(partial float32, q []float32) float32 {
	v := partial + dot(q, q)
	if v < 0 {
		return 0
	}
	return float32(math.Sqrt(float64(v)))
}

func dot4(r, q0, q1, q2, q3 []float32) (a0, a1, a2, a3 float32) {
	n := len(r)
	q0, q1, q2, q3 = q0[:n], q1[:n], q2[:n], q3[:n]
	for i := 0; i+2 <= n; i += 2 {
		x, y := r[i], r[i+1]
		a0 += x*q0[i] + y*q0[i+1]
		a1 += x*q1[i] + y*q1[i+1]
		a2 += x*q2[i] + y*q2[i+1]
		a3 += x*q3[i] + y*q3[i+1]
	}
	if n%2 == 1 {
		x := r[n-1]
		a0 += x * q0[n-1]
		a1 += x * q1[n-1]
		a2 += x * q2[n-1]
		a3 += x * q3[n-1]
	}
	return
}

// bankMagic starts a bank file: "PPAB" (Prüfplatz anomaly bank), version 1.
var bankMagic = [8]byte{'P', 'P', 'A', 'B', 0, 0, 0, 1}

// EncodeF16 writes the bank as a file: the magic, uint32 M and Dim (little
// endian), then M×Dim IEEE 754 half floats. Half precision halves the file
// and the loaded bank's size changes no distance by more than the
// features' own noise (TestBankRoundTrip bounds it).
func (b *Bank) EncodeF16() []byte {
	out := make([]byte, 16+2*len(b.Data))
	copy(out, bankMagic[:])
	binary.LittleEndian.PutUint32(out[8:], uint32(b.Len()))
	binary.LittleEndian.PutUint32(out[12:], uint32(b.Dim))
	for i, v := range b.Data {
		binary.LittleEndian.PutUint16(out[16+2*i:], f32ToF16(v))
	}
	return out
}

// DecodeBank reads a bank written by EncodeF16. It returns an error
// wrapping ErrBank for anything else.
func DecodeBank(data []byte) (*Bank, error) {
	if len(data) < 16 || [8]byte(data[:8]) != bankMagic {
		return nil, fmt.Errorf("%w: not a bank file", ErrBank)
	}
	m := int(binary.LittleEndian.Uint32(data[8:]))
	dim := int(binary.LittleEndian.Uint32(data[12:]))
	if dim <= 0 || m <= 0 || len(data) != 16+2*m*dim {
		return nil, fmt.Errorf("%w: header says %d×%d, file has %d bytes", ErrBank, m, dim, len(data))
	}
	v := make([]float32, m*dim)
	for i := range v {
		v[i] = f16ToF32(binary.LittleEndian.Uint16(data[16+2*i:]))
	}
	return NewBank(v, dim)
}

// f32ToF16 rounds to the nearest half float (ties to even); values beyond
// the half range become ±Inf, tiny ones ±0 or subnormals.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case (b>>23)&0xff == 0xff: // Inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp >= 0x1f:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is still right
	}
	return sign | uint16(h)
}

func f16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		v := float32(mant) / 1024 / 16384 // 2^-14 × mant/1024
		if sign != 0 {
			return -v
		}
		return v
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}
