package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/embed"
	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/models/backbones"
)

func newBenchEmbedCmd() *cobra.Command {
	var root, backboneDir string
	var seconds float64
	cmd := &cobra.Command{
		Use:   "embed",
		Short: "Images per second of the embedder against bare onnxruntime_go on the same tensors",
		Long: `embed times the backbone embedder (batching, copies, L2 normalisation) at batch 1 and 16,
on one ONNX Runtime thread and on all cores, on deterministic random input tensors, and the
same tensors through a bare onnxruntime_go session with preallocated tensors. It prints
images/s of both and the ratio of their times (goal: at most 1.2).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := initORT(cmd); err != nil {
				return err
			}
			b, err := backbones.Get(backbones.Folder(backboneDir, root), backbones.MobileNetV2)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%-8s %-7s %12s %12s %7s\n", "threads", "batch", "embedder/s", "bare ort/s", "ratio")
			for _, threads := range []int{1, runtime.NumCPU()} {
				for _, batch := range []int{1, 16} {
					ours, bare, err := benchEmbed(cmd.Context(), b, threads, batch, seconds)
					if err != nil {
						return err
					}
					fmt.Fprintf(w, "%-8d %-7d %12.1f %12.1f %7.2f\n", threads, batch, ours, bare, bare/ours)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "models", "models", "model registry folder")
	cmd.Flags().StringVar(&backboneDir, "backbones", "", "folder of the pretrained backbones (default: the registry's backbones/ when it has one, else models/backbones)")

	cmd.Flags().Float64Var(&seconds, "seconds", 3, "measuring time per case and side")
	return cmd
}

// benchEmbed returns images/s of the embedder and of a bare session.
func benchEmbed(ctx context.Context, b embed.Backbone, threads, batch int, seconds float64) (ours, bare float64, err error) {
	spec := embed.Spec(inspector.ResizeStretch, nil)
	tl := spec.TensorLen()
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*tl)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	xs := make([][]float32, batch)
	for i := range xs {
		xs[i] = x[i*tl : (i+1)*tl]
	}
	r, err := onnx.OpenBackbone(b, onnx.Options{Threads: threads})
	if err != nil {
		return 0, 0, err
	}
	defer r.Close()
	e, err := embed.New(r, spec, batch)
	if err != nil {
		return 0, 0, err
	}
	ours, err = rate(batch, seconds, func() error { _, err := e.EmbedTensors(ctx, xs); return err })
	if err != nil {
		return 0, 0, err
	}

	in, err := ort.NewTensor(ort.NewShape(int64(batch), 3, embed.Size, embed.Size), x)
	if err != nil {
		return 0, 0, err
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(batch), embed.Dim))
	if err != nil {
		return 0, 0, err
	}
	defer out.Destroy()
	so, err := ort.NewSessionOptions()
	if err != nil {
		return 0, 0, err
	}
	defer so.Destroy()
	so.SetIntraOpNumThreads(threads)
	so.SetInterOpNumThreads(1)
	s, err := ort.NewAdvancedSession(b.File, []string{embed.InputName}, []string{embed.OutEmbedding}, []ort.Value{in}, []ort.Value{out}, so)
	if err != nil {
		return 0, 0, err
	}
	defer s.Destroy()
	bare, err = rate(batch, seconds, s.Run)
	return ours, bare, err
}

// rate runs fn (one batch) after a warm-up for about seconds and returns images/s.
func rate(batch int, seconds float64, fn func() error) (float64, error) {
	for i := 0; i < 2; i++ {
		if err := fn(); err != nil {
			return 0, err
		}
	}
	n := 0
	start := time.Now()
	for time.Since(start).Seconds() < seconds {
		if err := fn(); err != nil {
			return 0, err
		}
		n++
	}
	return float64(n*batch) / time.Since(start).Seconds(), nil
}
