package train

import (
	"context"
	"slices"
	"testing"

	"github.com/pruefplatz/pruefplatz/augment"
	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector"
)

// TestBatchesDoNotDependOnWorkers builds the same batch with one and with
// three augmenting goroutines: draws and augmentation come from (seed,
// epoch, batch) alone, so a training run repeats on any machine.
func TestBatchesDoNotDependOnWorkers(t *testing.T) {
	ds, err := datasets.Load(tinyDataset(t, []string{"left", "right", "top"}, []int{6, 6, 6}))
	if err != nil {
		t.Fatal(err)
	}
	spec := inspector.InputSpec{Width: 16, Height: 16, Channels: 3, Resize: inspector.ResizeStretch,
		Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}}
	im, probs, err := loadImages(context.Background(), ds.Samples, spec, true)
	if err != nil || len(probs) > 0 {
		t.Fatalf("load: %v %v", err, probs)
	}
	defer im.Close()

	batchOf := func(workers, epoch, k int) batch {
		b := newBatcher(im, 3, spec, augment.DefaultPipeline(), 9, 8)
		b.workers = workers
		pre, err := b.preprocessors()
		if err != nil {
			t.Fatal(err)
		}
		defer closeAll(pre)
		bt, err := b.build(pre, epoch, k)
		if err != nil {
			t.Fatal(err)
		}
		return bt
	}
	one, three := batchOf(1, 3, 2), batchOf(3, 3, 2)
	if !slices.Equal(one.labels, three.labels) || !slices.Equal(one.x, three.x) {
		t.Errorf("batch 2 of epoch 3 differs between 1 and 3 workers: labels %v vs %v", one.labels, three.labels)
	}
	if next := batchOf(1, 3, 3); slices.Equal(one.x, next.x) {
		t.Error("batches 2 and 3 of an epoch are the same: the batch index does not reach the draws")
	}
}
