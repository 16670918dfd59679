package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	bbolt "go.etcd.io/bbolt"
)

// Benchmarks of the verdict store alone (`make bench-station` runs them).
// The full recording path, with the JPEG encoding, is benchmarked in
// inspector/station.

// bigStoreN is the size of the store BenchmarkListLatest100 reads from.
const bigStoreN = 1_000_000

// bigStoreFormat names the layout of the cached big store; change it when
// the record layout or benchVerdict changes, so a stale cache is rebuilt
// instead of measured.
const bigStoreFormat = "v2"

// Sizes of a recorded demo frame: a 640×480 frame as JPEG at the station's
// default quality 90, and its 200×150 thumbnail at quality 80 (measured on
// the demo feed).
const (
	frameJPEGBytes = 15_000
	thumbJPEGBytes = 3_300
)

// durations keeps per-operation times for the quantiles.
type durations struct {
	mu sync.Mutex
	ds []time.Duration
}

func (d *durations) add(x time.Duration) {
	d.mu.Lock()
	d.ds = append(d.ds, x)
	d.mu.Unlock()
}

// report adds p50 and p99 in milliseconds to the benchmark's results.
func (d *durations) report(b *testing.B) {
	ds := d.ds
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(x time.Duration) float64 { return float64(x) / float64(time.Millisecond) }
	b.ReportMetric(ms(ds[len(ds)/2]), "p50-ms")
	b.ReportMetric(ms(ds[min(len(ds)-1, len(ds)*99/100)]), "p99-ms")
}

var benchLabels = []string{"ok", "crack", "dent", "missing_hole", "scratch"}

// benchVerdict is verdict i of a realistic shift: mostly OK, some defects,
// a few uncertain ones a human reviewed, one every 2.5 s. Its images are
// image and thumb.
func benchVerdict(rng *rand.Rand, i int, img, thumb []byte) *inspector.Verdict {
	t := time.Date(2026, 10, 1, 6, 0, 0, 0, time.UTC).Add(time.Duration(i) * 2500 * time.Millisecond)
	top := rng.IntN(len(benchLabels))
	if rng.Float64() < 0.9 {
		top = 0
	}
	score := float32(0.85 + 0.15*rng.Float64())
	if rng.IntN(100) < 3 {
		score = float32(0.5 + 0.3*rng.Float64())
	}
	var topk []inspector.Prediction
	rest := 1 - score
	for k, j := 0, top; k < 3; k, j = k+1, (j+1)%len(benchLabels) {
		s := score
		if k > 0 {
			s = rest / 2
		}
		topk = append(topk, inspector.Prediction{Label: benchLabels[j], Index: j, Score: s})
	}
	d := inspector.Decision{Outcome: inspector.OutcomeOK, Label: benchLabels[top], TopK: topk}
	switch {
	case score < 0.8:
		d.Outcome, d.Label = inspector.OutcomeUncertain, ""
	case top != 0:
		d.Outcome = inspector.OutcomeNOK
	}
	v := &inspector.Verdict{
		Time: t, Source: "cam0", Trigger: string(inspector.TriggerAuto),
		Model: inspector.ModelRef{Name: "demo-defects", Version: "v3",
			SHA256:      "9f2c4e1b7a3d5f60e8c2b4a6d1f3e5a7c9b0d2f4e6a8c1b3d5f7e9a0c2b4d6f8",
			DatasetHash: "sha256:3b7e1f9a2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d2e4f"},
		Thresholds: inspector.Thresholds{Accept: 0.8, Reject: 0.3},
		Decision:   d, Image: img, Thumb: thumb,
	}
	if d.Outcome == inspector.OutcomeUncertain || (d.Outcome == inspector.OutcomeNOK && rng.IntN(10) == 0) {
		v.Review = &inspector.Review{Label: benchLabels[top], Outcome: inspector.OutcomeNOK, By: "operator-2",
			At: t.Add(20 * time.Second), Confirmed: d.Outcome == inspector.OutcomeNOK}
		if top == 0 {
			v.Review.Outcome = inspector.OutcomeOK
		}
	}
	return v
}

// payload is n bytes that do not compress, like JPEG data.
func payload(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

// tinyJPEG is a real JPEG of about 400 bytes, standing in for frames and
// thumbnails in the big store: listings never read the images, and full
// size ones would make the cached file about 20 GB.
func tinyJPEG(b *testing.B, w, h int) []byte {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 50}); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// bigStore returns the path of a store holding bigStoreN verdicts. It is
// built once (about a minute on 2 cores; about 2 GB) in the user's cache
// directory, outside the repository, and reused while bigStoreFormat is
// unchanged; files of other formats there are removed.
func bigStore(b *testing.B) string {
	b.Helper()
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "pruefplatz-bench")
	path := filepath.Join(dir, fmt.Sprintf("verdicts-%d-%s.db", bigStoreN, bigStoreFormat))
	if bigStoreComplete(path) {
		return path
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	stale, _ := filepath.Glob(filepath.Join(dir, "verdicts-*.db*"))
	for _, p := range stale {
		os.Remove(p)
	}
	fmt.Fprintf(os.Stderr, "building %s with %d verdicts once (kept for later runs)\n", path, bigStoreN)
	t0 := time.Now()
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	defer os.Remove(tmp)
	if err := buildBigStore(b, tmp); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "built in %s, %d MB\n", time.Since(t0).Round(time.Second), fi.Size()>>20)
	return path
}

// bigStoreComplete tells whether path holds the finished big store.
func bigStoreComplete(path string) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return false
	}
	defer db.Close()
	seq := uint64(0)
	db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketVerdicts); b != nil {
			seq = b.Sequence()
		}
		return nil
	})
	return seq == bigStoreN
}

// buildBigStore writes the verdicts with the layout Store.Add gives them
// (same buckets, keys and encoding, verdict pages about half full as
// appending one batch at a time leaves them), but in large transactions
// instead of one per few verdicts, so it takes a minute rather than hours.
// The image buckets, which listings never read, are packed full to keep
// the cached file small.
func buildBigStore(b *testing.B, path string) error {
	s, err := Open(path)
	if err != nil {
		return err
	}
	defer s.Close()
	img, thumb := tinyJPEG(b, 16, 12), tinyJPEG(b, 8, 6)
	rng := rand.New(rand.NewPCG(1, 2))
	const perTx = 50_000
	for start := 0; start < bigStoreN; start += perTx {
		err := s.db.Update(func(tx *bbolt.Tx) error {
			vb, ib, tb := tx.Bucket(bucketVerdicts), tx.Bucket(bucketImages), tx.Bucket(bucketThumbs)
			ib.FillPercent, tb.FillPercent = 1, 1
			for i := start; i < min(start+perTx, bigStoreN); i++ {
				v := benchVerdict(rng, i, img, thumb)
				id, err := vb.NextSequence()
				if err != nil {
					return err
				}
				v.ID = id
				data, err := json.Marshal(v)
				if err != nil {
					return err
				}
				k := key(id)
				if err := vb.Put(k, data); err != nil {
					return err
				}
				if err := ib.Put(k, v.Image); err != nil {
					return err
				}
				if err := tb.Put(k, v.Thumb); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// The verdicts went in without their statistics counters: mark them
	// missing, so the first Open counts them as it would for a store from
	// before the counters (BenchmarkStats measures that once).
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Delete(statsVersion) }); err != nil {
		return err
	}
	return s.db.Sync()
}

// BenchmarkListLatest100 reads the newest 100 verdicts (what the operator
// and engineer pages show first) from a store of 1,000,000 (goal: < 10 ms).
// The sub-benchmarks page further back and filter by outcome, which walks
// past the records that do not match.
func BenchmarkListLatest100(b *testing.B) {
	s, err := Open(bigStore(b))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	cases := []struct {
		name string
		q    inspector.VerdictQuery
	}{
		{"newest", inspector.VerdictQuery{Limit: 100}},
		{"page-before-500000", inspector.VerdictQuery{Limit: 100, Before: 500_000}},
		{"outcome-nok", inspector.VerdictQuery{Limit: 100, Outcome: inspector.OutcomeNOK}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var d durations
			for range b.N {
				t0 := time.Now()
				vs, err := s.List(ctx, c.q)
				d.add(time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if len(vs) != 100 {
					b.Fatalf("%d verdicts, want 100", len(vs))
				}
			}
			d.report(b)
		})
	}
}

// BenchmarkAdd stores verdicts one after another, each with a frame and a
// thumbnail of the demo's sizes: every Add is its own committed, fsynced
// transaction.
func BenchmarkAdd(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "v.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	img, thumb := payload(frameJPEGBytes, 1), payload(thumbJPEGBytes, 2)
	rng := rand.New(rand.NewPCG(3, 4))
	ctx := context.Background()
	var d durations
	b.ResetTimer()
	for i := range b.N {
		v := benchVerdict(rng, i, img, thumb)
		t0 := time.Now()
		if err := s.Add(ctx, v); err != nil {
			b.Fatal(err)
		}
		d.add(time.Since(t0))
	}
	b.StopTimer()
	d.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
}

// BenchmarkAddConcurrent stores verdicts from several writers at once; the
// store batches their commits into one transaction and one fsync.
func BenchmarkAddConcurrent(b *testing.B) {
	for _, writers := range []int{4, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "v.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			img, thumb := payload(frameJPEGBytes, 1), payload(thumbJPEGBytes, 2)
			rng := rand.New(rand.NewPCG(3, 4))
			vs := make([]*inspector.Verdict, b.N)
			for i := range vs {
				vs[i] = benchVerdict(rng, i, img, thumb)
			}
			next := make(chan *inspector.Verdict, b.N)
			for _, v := range vs {
				next <- v
			}
			close(next)
			ctx := context.Background()
			var d durations
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			b.ResetTimer()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for v := range next {
						t0 := time.Now()
						if err := s.Add(ctx, v); err != nil {
							errs <- err
							return
						}
						d.add(time.Since(t0))
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			d.report(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
			if err := s.Check(); err != nil {
				b.Fatal(err)
			}
		})
	}
}
