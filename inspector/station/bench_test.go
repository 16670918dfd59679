package station

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/mqtt"
	"github.com/pruefplatz/pruefplatz/inspector/mqtt/mosquittotest"
	"github.com/pruefplatz/pruefplatz/inspector/opencv"
	"github.com/pruefplatz/pruefplatz/inspector/outbox"
	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// benchFrames reads n frames of the demo feed.
func benchFrames(b *testing.B, n int) []gocv.Mat {
	b.Helper()
	feed, _ := demoFeed(b)
	src, err := opencv.OpenSource(feed, opencv.SourceOptions{Loop: true})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	frames := make([]gocv.Mat, n)
	for i := range frames {
		frames[i] = gocv.NewMat()
		if err := src.Read(&frames[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.Cleanup(func() {
		for _, f := range frames {
			f.Close()
		}
	})
	return frames
}

// quantiles reports p50 and p99 of ds in milliseconds.
func quantiles(b *testing.B, ds []time.Duration, prefix string) (p50, p99 float64) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	p50, p99 = ms(ds[len(ds)/2]), ms(ds[min(len(ds)-1, len(ds)*99/100)])
	b.ReportMetric(p50, prefix+"p50-ms")
	b.ReportMetric(p99, prefix+"p99-ms")
	return p50, p99
}

// bareInference returns a function that runs onnxruntime_go alone on
// tensor and returns how long the run took: the floor the station's frame
// path is compared with.
func bareInference(b *testing.B, m *Model, tensor []float32) func() time.Duration {
	b.Helper()
	in, err := ort.NewTensor(ort.NewShape(m.Card.Input.Shape()...), append([]float32(nil), tensor...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { in.Destroy() })
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(1, int64(len(m.Card.Labels))))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { out.Destroy() })
	so, err := ort.NewSessionOptions()
	if err != nil {
		b.Fatal(err)
	}
	defer so.Destroy()
	so.SetIntraOpNumThreads(1)
	so.SetInterOpNumThreads(1)
	ins, outs, err := ort.GetInputOutputInfo(m.Path)
	if err != nil {
		b.Fatal(err)
	}
	sess, err := ort.NewAdvancedSession(m.Path, []string{ins[0].Name}, []string{outs[0].Name}, []ort.Value{in}, []ort.Value{out}, so)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sess.Destroy() })
	for range 10 { // warm up
		sess.Run()
	}
	return func() time.Duration {
		t0 := time.Now()
		if err := sess.Run(); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
}

// BenchmarkFramePath times the station's frame path (shared preprocessing
// → ONNX Runtime session → softmax, top-k, thresholds) on demo frames with
// the default model, and in the same run bare onnxruntime_go on the same
// tensor. ratio = frame-path p50 / bare p50 (goal ≤ 1.5); p99 should stay
// well inside a 33 ms frame.
func BenchmarkFramePath(b *testing.B) {
	m, _ := realModel(b)
	defer m.Classifier.Close()
	frames := benchFrames(b, 30)
	st := New(Config{Logger: quietLog()}, "bench", nil, m, nil, nil)
	pre, err := opencv.NewPreprocessor(m.Card.Input)
	if err != nil {
		b.Fatal(err)
	}
	defer pre.Close()
	tensor := make([]float32, m.Card.Input.TensorLen())
	ctx := context.Background()
	for i := range 10 {
		if _, err := st.decide(ctx, m, pre, frames[i%len(frames)], tensor); err != nil {
			b.Fatal(err)
		}
	}
	bareRun := bareInference(b, m, tensor)
	// Bare runs alternate with frame-path runs, so both see the same
	// machine: on a shared host the speed drifts from second to second.
	ds, bare := make([]time.Duration, b.N), make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := st.decide(ctx, m, pre, frames[i%len(frames)], tensor); err != nil {
			b.Fatal(err)
		}
		ds[i] = time.Since(t0)
		b.StopTimer()
		bare[i] = bareRun()
		b.StartTimer()
	}
	b.StopTimer()
	p50, _ := quantiles(b, ds, "")
	bp50, _ := quantiles(b, bare, "bare-")
	b.ReportMetric(p50/bp50, "ratio")
}

// benchVerdict is a decided frame ready to record, and n demo frames
// (the first is the decided one) for benchmarks that record many.
func benchVerdict(b *testing.B, n int) (*Station, *Model, []gocv.Mat, inspector.Decision, *bolt.Store) {
	frames := benchFrames(b, n)
	card := fakeCard("bench", "v1")
	m := &Model{Card: card, Classifier: &constClassifier{n: len(card.Labels)}}
	store, err := bolt.Open(filepath.Join(b.TempDir(), "verdicts.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	st := New(Config{Logger: quietLog()}, "bench", nil, m, nil, store)
	d := inspector.Decide([]float32{0.01, 0.01, 0.01, 0.96, 0.01}, card.Labels, card.Thresholds, card.OKLabels, 3)
	return st, m, frames, d, store
}

// BenchmarkRecordVerdict times recording one verdict of a full 640×480
// demo frame with the station's defaults: JPEG (quality 90), 200×150
// thumbnail and a committed bbolt transaction, one after another.
func BenchmarkRecordVerdict(b *testing.B) {
	st, m, frames, d, _ := benchVerdict(b, 1)
	ctx := context.Background()
	ds := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := st.record(ctx, m, frames[0], d, inspector.TriggerManual, nil); err != nil {
			b.Fatal(err)
		}
		ds[i] = time.Since(t0)
	}
	b.StopTimer()
	quantiles(b, ds, "")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
}

// BenchmarkRecordConcurrent records verdicts from 16 writers at once; the
// store batches their commits. The JPEGs are encoded once, so this measures
// the store path only; BenchmarkRecordConcurrentFull is the station's.
func BenchmarkRecordConcurrent(b *testing.B) {
	st, m, frames, d, store := benchVerdict(b, 1)
	proto, err := st.buildVerdict(m, frames[0], d, "bench")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const writers = 16
	var wg sync.WaitGroup
	next := make(chan struct{}, b.N)
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	b.ResetTimer()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				v := *proto
				if err := store.Add(ctx, &v); err != nil {
					panic(fmt.Sprint("store: ", err))
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
}

// BenchmarkRecordConcurrentFull records verdicts as the station does, from
// several writers at once: every verdict encodes its own frame (30 demo
// frames in turn) as JPEG and thumbnail, then waits for its batched commit
// (goal ≥ 1,000 verdicts/s). p50/p99 are per verdict, encoding included.
// A commit holds the verdicts that waited for it, about half the writers
// while the other half wait in the commit under way, so with slow fsyncs
// more writers mean more verdicts/s until the encoding takes the CPU.
func BenchmarkRecordConcurrentFull(b *testing.B) {
	for _, writers := range []int{4, 16, 32} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			st, m, frames, d, store := benchVerdict(b, 30)
			ctx := context.Background()
			var wg sync.WaitGroup
			next := make(chan int, b.N)
			for i := range b.N {
				next <- i
			}
			close(next)
			ds := make([]time.Duration, b.N)
			b.ResetTimer()
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range next {
						t0 := time.Now()
						if _, err := st.record(ctx, m, frames[i%len(frames)], d, inspector.TriggerAuto, nil); err != nil {
							panic(fmt.Sprint("record: ", err))
						}
						ds[i] = time.Since(t0)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			quantiles(b, ds, "")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
			if err := store.Check(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRecordPublishing records verdicts (JPEG, thumbnail, committed
// bbolt transaction) alternately on a station without integrations and on
// one whose Notify hook queues each verdict for MQTT (outbox write) while a
// Paho client delivers the queue to a real mosquitto. off- and on- p50/p99
// come from the same run; ratio = on p50 / off p50. The frame path itself
// (BenchmarkFramePath) never calls Notify: live decisions are not notified.
func BenchmarkRecordPublishing(b *testing.B) {
	broker := mosquittotest.Start(b)
	off, m, frames, d, _ := benchVerdict(b, 1)
	box, err := outbox.Open(filepath.Join(b.TempDir(), "outbox.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	q, err := box.Queue("mqtt", 0)
	if err != nil {
		b.Fatal(err)
	}
	client, err := mqtt.New(mqtt.Config{Broker: broker.URL(), Station: "bench", Logger: quietLog()}, q)
	if err != nil {
		b.Fatal(err)
	}
	client.Start(context.Background())
	defer client.Close()
	store, err := bolt.Open(filepath.Join(b.TempDir(), "verdicts-on.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	on := New(Config{Logger: quietLog(), Notify: client.Notify}, "bench", nil, m, nil, store)
	ctx := context.Background()
	dOff, dOn := make([]time.Duration, b.N), make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		for _, c := range []struct {
			st *Station
			ds []time.Duration
		}{{off, dOff}, {on, dOn}} {
			t0 := time.Now()
			if _, err := c.st.record(ctx, m, frames[0], d, inspector.TriggerManual, nil); err != nil {
				b.Fatal(err)
			}
			c.ds[i] = time.Since(t0)
		}
	}
	b.StopTimer()
	p50off, _ := quantiles(b, dOff, "off-")
	p50on, _ := quantiles(b, dOn, "on-")
	b.ReportMetric(p50on/p50off, "ratio")
	deadline := time.Now().Add(30 * time.Second)
	for q.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if q.Len() > 0 {
		b.Fatalf("%d verdicts not delivered to the broker", q.Len())
	}
}
