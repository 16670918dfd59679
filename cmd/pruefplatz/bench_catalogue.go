package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

// benchNumPy is the exact peer: the same vectors, per-part max of the
// dot products (parts are contiguous runs of `per` rows), top 5 parts.
const benchNumPy = `
import sys, time, numpy as np
X = np.load(sys.argv[1]); Q = np.load(sys.argv[2]); per = int(sys.argv[3])
n = X.shape[0] // per
times, tops = [], []
for q in Q:
    t = time.perf_counter()
    s = X @ q
    p = s.reshape(n, per).max(axis=1)
    top = np.argpartition(-p, 5)[:5]
    top = top[np.argsort(-p[top])]
    times.append(time.perf_counter() - t)
    tops.append(top)
times.sort()
print("p50_ms", 1000 * times[len(times) // 2])
print("p95_ms", 1000 * times[int(len(times) * 0.95)])
for t in tops:
    print("top", " ".join(str(int(i)) for i in t))
`

func newBenchCatalogueCmd() *cobra.Command {
	var parts, per, queries, threads int
	var python, models string
	cmd := &cobra.Command{
		Use:   "catalogue",
		Short: "Catalogue search at scale: our int16 scan versus exact float32 (Go and NumPy)",
		Long: `catalogue builds an index of --parts × --per synthetic unit vectors (1422 values: the embedding, the silhouette and the shape, all scanned; each
part a random centre, its photos the centre plus noise), and times --queries searches (a
new noisy photo of a random part; top 5 parts, per-part max) on 2 cores. It reports p50
and p95 of the search step, the index memory, and recall@5 against exact float32 search.
NumPy (Debian's python3-numpy, 2 BLAS threads) runs the exact search on the same vectors
for comparison. With the backbone available it also times the whole request: decode and
embed a demo customer photo (segment it, turn it upright, embed the view and its half
turn), then search; and adding a part with 5
photos to a catalogue file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return benchCatalogue(cmd, parts, per, queries, threads, python, models)
		},
	}
	cmd.Flags().IntVar(&parts, "parts", 10000, "parts in the synthetic index")
	cmd.Flags().IntVar(&per, "per", 5, "photos per part")
	cmd.Flags().IntVar(&queries, "queries", 200, "searches to time")
	cmd.Flags().IntVar(&threads, "threads", 2, "cores for the scan and ONNX Runtime")
	cmd.Flags().StringVar(&python, "python", "/usr/bin/python3", "Python interpreter with numpy")
	cmd.Flags().StringVar(&models, "models", "models", "model registry folder (holds backbones/)")
	return cmd
}

func benchCatalogue(cmd *cobra.Command, parts, per, queries, threads int, python, models string) error {
	w := cmd.OutOrStdout()
	runtime.GOMAXPROCS(threads)
	rng := rand.New(rand.NewPCG(7, 8))
	dim := catalogue.VectorLen(embed.Dim) // the embedding, the silhouette and the shape
	unit := func(v []float32) {
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		for i := range v {
			v[i] = float32(float64(v[i]) / math.Sqrt(s))
		}
	}
	// Backbone embeddings are non-negative (pooled ReLU6) and close to each
	// other; the synthetic ones imitate that: a shared base, a part centre
	// and photo noise.
	base := make([]float32, dim)
	for j := range base {
		base[j] = float32(rng.ExpFloat64())
	}
	centre := make([][]float32, parts)
	photo := func(p int) []float32 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(math.Max(0, float64(base[j])+0.8*float64(centre[p][j])+0.5*rng.NormFloat64()))
		}
		unit(v)
		return v
	}
	n := parts * per
	flat := make([]float32, 0, n*dim)
	b := catalogue.NewBuilder(dim)
	for p := range parts {
		centre[p] = make([]float32, dim)
		for j := range centre[p] {
			centre[p][j] = float32(rng.NormFloat64())
		}
		for range per {
			v := photo(p)
			flat = append(flat, v...)
			b.Add(strconv.Itoa(p), "", v)
		}
	}
	b.Center = false // synthetic vectors have no shared table to remove; exact peers compare raw cosines
	start := time.Now()
	ix := b.Build()
	build := time.Since(start)
	ix.Workers = threads
	qs := make([][]float32, queries)
	for i := range qs {
		qs[i] = photo(rng.IntN(parts))
	}
	var took []time.Duration
	ours := make([][]int, queries)
	for i, q := range qs {
		t := time.Now()
		hits := ix.Search(q, 5, nil)
		took = append(took, time.Since(t))
		for _, h := range hits {
			p, _ := strconv.Atoi(h.Part)
			ours[i] = append(ours[i], p)
		}
	}
	// Exact float32 in Go: recall reference and a second timing.
	var exactTook []time.Duration
	exact := make([][]int, queries)
	for i, q := range qs {
		t := time.Now()
		exact[i] = exactTop5(flat, q, per)
		exactTook = append(exactTook, time.Since(t))
	}
	recall := recallAt5(ours, exact)
	fmt.Fprintf(w, "catalogue bench: %d parts × %d photos = %d vectors of %d, %d queries, %d cores\n", parts, per, n, dim, queries, threads)
	fmt.Fprintf(w, "index memory: %.1f MB (int16 + one scale per vector; float32 would be %.1f MB); built in %s\n",
		float64(ix.Bytes())/1e6, float64(4*len(flat))/1e6, build.Round(time.Millisecond))
	fmt.Fprintf(w, "| search step | p50 | p95 | recall@5 vs exact |\n|---|---|---|---|\n")
	fmt.Fprintf(w, "| ours (int16 scan, per-part max) | %s | %s | %.4f |\n", pct(took, 50), pct(took, 95), recall)
	fmt.Fprintf(w, "| exact float32, Go, 1 core | %s | %s | 1 |\n", pct(exactTook, 50), pct(exactTook, 95))
	var ext []time.Duration
	for r := range 5 {
		vs := make([][]float32, 5)
		for i := range vs {
			vs[i] = photo(r)
		}
		t := time.Now()
		ix.Extend("new-"+strconv.Itoa(r), []string{"a", "b", "c", "d", "e"}, vs)
		ext = append(ext, time.Since(t))
	}
	fmt.Fprintf(w, "| index update for a new part with 5 photos (copy-on-write extend of the %d vectors) | %s | %s | |\n", n, pct(ext, 50), pct(ext, 95))
	if err := benchNumPyPeer(cmd.Context(), w, python, flat, qs, per, ours); err != nil {
		fmt.Fprintf(w, "| NumPy exact | skipped: %v | | |\n", err)
	}
	benchEndToEnd(cmd, w, ix, models, threads)
	return nil
}

func pct(d []time.Duration, p int) string {
	s := slices.Clone(d)
	slices.Sort(s)
	return fmt.Sprintf("%.1f ms", float64(s[min(len(s)-1, len(s)*p/100)])/1e6)
}

func exactTop5(flat, q []float32, per int) []int {
	dim := len(q)
	n := len(flat) / dim / per
	best := make([]float32, n)
	for p := range n {
		best[p] = float32(math.Inf(-1))
		for k := range per {
			i := p*per + k
			var s float32
			for j, x := range flat[i*dim : (i+1)*dim] {
				s += x * q[j]
			}
			best[p] = max(best[p], s)
		}
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case best[a] > best[b]:
			return -1
		case best[a] < best[b]:
			return 1
		}
		return a - b
	})
	return idx[:5]
}

func recallAt5(got, want [][]int) float64 {
	hit, all := 0, 0
	for i := range want {
		for _, w := range want[i] {
			all++
			if slices.Contains(got[i], w) {
				hit++
			}
		}
	}
	return float64(hit) / float64(all)
}

func writeNPYFlat(path string, flat []float32, rows, cols int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	hdr := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	pad := 64 - (10+len(hdr)+1)%64
	hdr += strings.Repeat(" ", pad) + "\n"
	buf := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	buf = append(buf, hdr...)
	body := make([]byte, 4*len(flat))
	for i, x := range flat {
		binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(x))
	}
	if _, err := f.Write(append(buf, body...)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func benchNumPyPeer(ctx context.Context, w io.Writer, python string, flat []float32, qs [][]float32, per int, ours [][]int) error {
	dir, err := os.MkdirTemp("", "pruefplatz-bench-catalogue")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dim := len(qs[0])
	var qflat []float32
	for _, q := range qs {
		qflat = append(qflat, q...)
	}
	xp, qp, sp := filepath.Join(dir, "x.npy"), filepath.Join(dir, "q.npy"), filepath.Join(dir, "bench.py")
	if err := writeNPYFlat(xp, flat, len(flat)/dim, dim); err != nil {
		return err
	}
	if err := writeNPYFlat(qp, qflat, len(qs), dim); err != nil {
		return err
	}
	if err := os.WriteFile(sp, []byte(benchNumPy), 0o644); err != nil {
		return err
	}
	c := exec.CommandContext(ctx, python, sp, xp, qp, strconv.Itoa(per))
	c.Env = append(os.Environ(), "OMP_NUM_THREADS=2", "OPENBLAS_NUM_THREADS=2", "MKL_NUM_THREADS=2")
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s (make setup-bench installs python3-numpy)", err, strings.TrimSpace(string(out)))
	}
	var p50, p95 string
	var tops [][]int
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "p50_ms":
			p50 = f[1]
		case len(f) == 2 && f[0] == "p95_ms":
			p95 = f[1]
		case len(f) > 0 && f[0] == "top":
			var t []int
			for _, s := range f[1:] {
				v, _ := strconv.Atoi(s)
				t = append(t, v)
			}
			tops = append(tops, t)
		}
	}
	a, _ := strconv.ParseFloat(p50, 64)
	b, _ := strconv.ParseFloat(p95, 64)
	fmt.Fprintf(w, "| NumPy exact float32, 2 BLAS threads | %.1f ms | %.1f ms | 1 (ours vs NumPy: %.4f) |\n", a, b, recallAt5(ours, tops))
	return nil
}

// benchEndToEnd times decode + embed + search with the real backbone, and
// adding a part with 5 photos to a catalogue file.
func benchEndToEnd(cmd *cobra.Command, w io.Writer, ix *catalogue.Index, models string, threads int) {
	lib, err := ortLibPath(cmd)
	if err == nil {
		err = onnx.Init(lib)
	}
	var emb *photoEmbedder
	if err == nil {
		emb, err = openPhotoEmbedder(models, backbones.MobileNetV2, threads)
	}
	if err != nil {
		fmt.Fprintf(w, "end to end: skipped (%v)\n", err)
		return
	}
	defer emb.Close()
	parts := demo.CatalogueParts()
	var imgs [][]byte
	for i := range 6 {
		b, err := demo.CatalogueImage(1, parts[i%len(parts)], demo.PhotoCustomer, i)
		if err != nil {
			fmt.Fprintf(w, "end to end: %v\n", err)
			return
		}
		imgs = append(imgs, b)
	}
	// What the service's verification measures again: the best photo of
	// each of the best parts (the synthetic index has no photos of its own).
	var refs [][]byte
	for i := range catalogue.VerifyTop {
		b, err := demo.CatalogueImage(1, parts[i%len(parts)], demo.PhotoReference, i)
		if err != nil {
			fmt.Fprintf(w, "end to end: %v\n", err)
			return
		}
		refs = append(refs, b)
	}
	ctx := cmd.Context()
	emb.Embed(ctx, imgs[:1]) // warm-up: ONNX Runtime plans on the first run
	var took, verify []time.Duration
	for r := range 20 {
		t := time.Now()
		e, err := emb.Embed(ctx, imgs[r%len(imgs):r%len(imgs)+1])
		if err != nil {
			fmt.Fprintf(w, "end to end: %v\n", err)
			return
		}
		hits := ix.Search(e[0].Vector, catalogue.VerifyTop, nil)
		tv := time.Now()
		fines, err := emb.Fine(ctx, refs)
		if err != nil {
			fmt.Fprintf(w, "end to end: %v\n", err)
			return
		}
		at := map[string]*catalogue.Fine{}
		for i, h := range hits {
			at[h.Photo] = fines[i%len(fines)]
		}
		catalogue.Verify(hits, float32(math.Inf(-1)), e[0].Fine, func(h catalogue.Hit) *catalogue.Fine { return at[h.Photo] })
		took, verify = append(took, time.Since(t)), append(verify, time.Since(tv))
	}
	fmt.Fprintf(w, "| end to end: decode + segment + embed (upright view, 2 turns) + search + verification of the best %d parts (their best photos segmented again), 640×480 JPEG | %s | %s | |\n", catalogue.VerifyTop, pct(took, 50), pct(took, 95))
	fmt.Fprintf(w, "| … of which the verification | %s | %s | |\n", pct(verify, 50), pct(verify, 95))
	dir, _ := os.MkdirTemp("", "pruefplatz-bench-add")
	defer os.RemoveAll(dir)
	st, err := bolt.OpenCatalogue(filepath.Join(dir, "c.db"))
	if err != nil {
		fmt.Fprintf(w, "add part: %v\n", err)
		return
	}
	defer st.Close()
	svc, err := catalogue.NewService(st, emb, catalogue.Options{})
	if err != nil {
		fmt.Fprintf(w, "add part: %v\n", err)
		return
	}
	var adds []time.Duration
	for p := range 5 {
		var ph [][]byte
		for i := range 5 {
			b, _ := demo.CatalogueImage(1, parts[p], demo.PhotoReference, i)
			ph = append(ph, b)
		}
		t := time.Now()
		if err := svc.AddPart(ctx, catalogue.Part{Number: parts[p].Number, Name: parts[p].Name, Active: true}, ph, 3, 10, "upload"); err != nil {
			fmt.Fprintf(w, "add part: %v\n", err)
			return
		}
		adds = append(adds, time.Since(t))
	}
	fmt.Fprintf(w, "| add a part with 5 photos (embed, store, re-index) | %s | %s | |\n", pct(adds, 50), pct(adds, 95))
}
