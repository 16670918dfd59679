package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/metric"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/schollz/progressbar/v3"
)

// trainCNN trains the from-scratch network (Arch) on j's split, chooses
// thresholds on the validation split, exports and verifies the ONNX file
// and publishes the version.
func trainCNN(ctx context.Context, opt Options, start time.Time, j *job) (*Result, error) {
	reg, ds, split, manifest, warnings := j.reg, j.ds, j.split, j.manifest, j.warnings
	spec := inspector.InputSpec{Width: opt.InputSize, Height: opt.InputSize, Channels: opt.Channels, Resize: opt.Resize, ROI: opt.ROI, Interpolation: opt.Interpolation}
	for c := 0; c < opt.Channels; c++ {
		spec.Mean, spec.Std = append(spec.Mean, 0.5), append(spec.Std, 0.25)
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	arch := DefaultArch(len(ds.Classes))
	if opt.Arch != nil {
		arch = *opt.Arch
		arch.Classes = len(ds.Classes)
	}
	if opt.StemStride > 1 {
		arch.StemStride = opt.StemStride
	}

	fmt.Fprintf(opt.Out, "loading %d images (%d train, %d validation, %d test)\n", len(ds.Samples), len(split.Train), len(split.Val), len(split.Test))
	trainIm, probs1, err := loadImages(ctx, split.Train, spec, true)
	if err != nil {
		return nil, err
	}
	defer trainIm.Close()
	valIm, probs2, err := loadImages(ctx, split.Val, spec, false)
	if err != nil {
		return nil, err
	}
	defer valIm.Close()
	testIm, probs3, err := loadImages(ctx, split.Test, spec, false)
	if err != nil {
		return nil, err
	}
	defer testIm.Close()
	var problems []string
	for _, p := range append(append(append(ds.Problems, probs1...), probs2...), probs3...) {
		problems = append(problems, p.String())
	}
	for _, p := range append(append(probs1, probs2...), probs3...) {
		fmt.Fprintln(opt.Out, "skipped:", p)
	}
	if len(trainIm.mats) == 0 || len(valIm.mats) == 0 {
		return nil, errors.New("train: no readable training or validation images")
	}
	valX, err := valIm.tensors(spec)
	if err != nil {
		return nil, err
	}
	testX, err := testIm.tensors(spec)
	if err != nil {
		return nil, err
	}

	backend, err := newBackend(opt)
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()
	fmt.Fprintf(opt.Out, "backend %s, input %dx%dx%d, net: %s\n", opt.Backend, spec.Width, spec.Height, spec.Channels, arch)

	store := model.NewStore()
	store.SetParam(model.ParamInitialSeed, int64(opt.Seed))
	modelFn := arch.build()
	trainer := gtrain.NewTrainer(backend, store, func(scope *model.Scope, spec any, inputs []*graph.Node) []*graph.Node {
		return []*graph.Node{modelFn(scope, inputs[0])}
	}, loss.SparseCategoricalCrossEntropyLogits, optimizer.Adam().LearningRate(opt.LR).Done(),
		// The mean accuracy of the epoch's batches (with dropout and augmentation) for the progress bar.
		[]metric.Interface{metric.NewSparseCategoricalAccuracy("Accuracy", "acc")}, nil)
	infer, err := model.NewExec(backend, store, func(scope *model.Scope, x *graph.Node) *graph.Node { return modelFn(scope, x) })
	if err != nil {
		return nil, err
	}

	steps := opt.StepsPerEpoch
	if steps <= 0 {
		steps = max(30, len(trainIm.mats)/opt.Batch)
	}
	// Training images are already cut to the ROI.
	trainSpec := spec
	trainSpec.ROI = nil
	bt := newBatcher(trainIm, len(ds.Classes), trainSpec, *opt.Pipeline, opt.Seed, opt.Batch)
	fit, err := fitCNN(ctx, opt, trainer, infer, store, bt, spec, steps, valX, valIm.labels)
	if err != nil {
		return nil, err
	}
	curve, bestEpoch := fit.curve, fit.bestEpoch

	valProbs, err := predict(infer, valX, spec, opt.Batch)
	if err != nil {
		return nil, err
	}
	testProbs, err := predict(infer, testX, spec, opt.Batch)
	if err != nil {
		return nil, err
	}
	th, metrics := judge(opt, ds.Classes, valProbs, valIm.labels, testProbs, testIm.labels)
	fmt.Fprintf(opt.Out, "\ntest set (%d images):\n%s", len(testX), metrics["test"].Table())

	// Export and prove it in a temporary folder; publish only at the end.
	tmp, err := os.MkdirTemp("", "pruefplatz-train-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	onnxPath := filepath.Join(tmp, models.ModelFile)
	if err := export(ctx, opt, backend, store, modelFn, spec, onnxPath); err != nil {
		return nil, err
	}
	ver, err := verify(opt, onnxPath, spec, len(ds.Classes), testX, testProbs, testIm.files, infer)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(opt.Out, "export verified with ONNX Runtime: %d reference images, max difference %.2g (tolerance %.0e)\n",
		len(ver.References), ver.MaxAbsDiff, ver.Tolerance)

	card := &models.Card{
		Name: opt.Name, Version: opt.Version, Labels: ds.Classes, Input: spec, OKLabels: opt.OKLabels,
		Thresholds: th, ThresholdWhy: opt.Thresholds.Explain(), ThresholdPolicy: &opt.Thresholds, Architecture: arch.String(),
		Training: &models.TrainingInfo{
			Backend: opt.Backend, Epochs: opt.Epochs, EpochsRun: len(curve), BestEpoch: bestEpoch, Batch: opt.Batch,
			StepsPerEpoch: steps, Patience: opt.Patience, StemStride: arch.StemStride,
			LearningRate: opt.LR, Schedule: "Adam, cosine annealing per epoch to 2% of the start",
			EarlyStopping: fmt.Sprintf("validation loss, patience %d epochs; weights of the best epoch kept", opt.Patience),
			Sampling:      "class-balanced: each image draws a class uniformly, then an image of it",
			Seed:          opt.Seed, Augmentation: opt.Pipeline.JSON(), Seconds: math.Round(fit.seconds*10) / 10,
			ImagesPerSec: math.Round(float64(fit.images) / fit.seconds), Curve: curve,
		},
		Dataset: &models.DatasetInfo{Path: opt.Data, ManifestHash: manifest.Hash(), ClassCounts: manifest.ClassCounts,
			SplitCounts: manifest.SplitCounts, Problems: problems},
		Warnings:      warnings,
		ScoreBaseline: monitor.TopScoreHistogram(valProbs),
		Metrics:       metrics, Verification: ver, ONNXInput: "input", ONNXOutput: "logits", Outputs: "logits",
		Tool: "pruefplatz train (GoMLX v0.28.3)", Created: opt.Now().UTC().Truncate(time.Second),
		Files: map[string]string{"curve": "curve.png", "confusion": "confusion.png", "manifest": "manifest.json"},
	}
	return publish(ctx, opt, reg, card, manifest, tmp, onnxPath, start, testRecord{testIm.files, testIm.labels, testProbs})
}

// fitResult is what the epochs produced: the learning curve, the epoch whose
// weights were kept, and the time and images spent.
type fitResult struct {
	curve     []models.EpochStats
	bestEpoch int
	seconds   float64
	images    int
}

// fitCNN runs the epochs: cosine-annealed Adam on class-balanced augmented
// batches, validation loss after each epoch, early stopping with patience,
// and the best epoch's weights restored at the end.
func fitCNN(ctx context.Context, opt Options, trainer *gtrain.Trainer, infer *model.Exec, store *model.Store, bt *batcher,
	spec inspector.InputSpec, steps int, valX [][]float32, valLabels []int) (*fitResult, error) {
	var curve []models.EpochStats
	bestLoss, bestEpoch := math.Inf(1), 0
	var best map[*model.Variable]*tensors.Tensor
	trainStart := time.Now()
	imagesSeen := 0
	lrVar := optimizer.LearningRateVar(store.RootScope(), dtypes.Float32, opt.LR)
	for epoch := 1; epoch <= opt.Epochs; epoch++ {
		// Cosine annealing over the planned epochs, down to 2 % of the start.
		lr := opt.LR * (0.02 + 0.98*0.5*(1+math.Cos(math.Pi*float64(epoch-1)/float64(opt.Epochs))))
		if err := lrVar.SetValue(tensors.FromScalar(float32(lr))); err != nil {
			return nil, err
		}
		bar := progressbar.NewOptions(steps, progressbar.OptionSetWriter(opt.Out), progressbar.OptionSetDescription(fmt.Sprintf("epoch %2d/%d", epoch, opt.Epochs)),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(200*time.Millisecond))
		if epoch > 1 {
			if err := trainer.ResetTrainMetrics(); err != nil {
				return nil, err
			}
		}
		// Cancelled when the epoch ends early (a failed step), so the
		// batch builder does not wait forever to hand over its next batch.
		ectx, cancel := context.WithCancel(ctx)
		batches, errc := bt.epoch(ectx, epoch, steps)
		var lossSum, acc float64
		n := 0
		epochStart := time.Now()
		for b := range batches {
			x := tensors.FromFlatDataAndDimensions(b.x, opt.Batch, spec.Channels, spec.Height, spec.Width)
			y := tensors.FromFlatDataAndDimensions(b.labels, opt.Batch, 1)
			metrics, err := trainer.TrainStep(gtrain.Batch{Inputs: []*tensors.Tensor{x}, Labels: []*tensors.Tensor{y}})
			if err != nil {
				cancel()
				return nil, fmt.Errorf("train: step: %w", err)
			}
			lossSum += float64(tensors.MustCopyFlatData[float32](metrics[0])[0])
			acc = float64(tensors.MustCopyFlatData[float32](metrics[2])[0])
			for _, m := range metrics {
				m.FinalizeAll()
			}
			n++
			imagesSeen += opt.Batch
			ips := float64(n*opt.Batch) / time.Since(epochStart).Seconds()
			bar.Describe(fmt.Sprintf("epoch %2d/%d loss %.3f acc %.3f %4.0f img/s", epoch, opt.Epochs, lossSum/float64(n), acc, ips))
			bar.Add(1)
		}
		bar.Finish()
		cancel()
		select {
		case err := <-errc:
			return nil, fmt.Errorf("train: %w", err)
		default:
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		valProbs, err := predict(infer, valX, spec, opt.Batch)
		if err != nil {
			return nil, err
		}
		vl, va := lossAndAccuracy(valProbs, valLabels)
		st := models.EpochStats{Epoch: epoch, TrainLoss: lossSum / float64(n), TrainAcc: acc, ValLoss: vl, ValAcc: va, LR: lr}
		curve = append(curve, st)
		fmt.Fprintf(opt.Out, "epoch %2d/%d  train loss %.4f  train acc %.3f  val loss %.4f  val acc %.3f  lr %.5f  %.0f img/s\n",
			epoch, opt.Epochs, st.TrainLoss, acc, vl, va, lr, float64(n*opt.Batch)/time.Since(epochStart).Seconds())
		if vl < bestLoss-1e-4 {
			bestLoss, bestEpoch = vl, epoch
			best, err = snapshot(store, best)
			if err != nil {
				return nil, err
			}
		} else if epoch-bestEpoch >= opt.Patience {
			fmt.Fprintf(opt.Out, "early stop: validation loss has not improved for %d epochs (best: epoch %d)\n", opt.Patience, bestEpoch)
			break
		}
	}
	if err := restore(best); err != nil {
		return nil, err
	}
	return &fitResult{curve: curve, bestEpoch: bestEpoch, seconds: time.Since(trainStart).Seconds(), images: imagesSeen}, nil
}
