package main

import (
	"fmt"
	"os"

	"github.com/pruefplatz/pruefplatz/models/train"
	"github.com/spf13/cobra"
)

func newBenchTrainCmd() *cobra.Command {
	var cfg train.BenchConfig
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Training images per second, ours (GoMLX on ONNX Runtime) versus PyTorch, and inference speed",
		Long: `train measures training throughput on the same synthetic 64×64×3 images, batch 32, Adam:
  (a) the default network of "pruefplatz train" (GoMLX, ONNX Runtime backend),
  (b) a reference net — 3× (conv3×3 + ReLU + MaxPool2) with 16/32/64 channels, dense 64,
      dense 5 — in GoMLX and in PyTorch (Debian's python3-torch, a subprocess in the same
      run, --threads threads),
and prints the ratio ours/PyTorch for the reference net (goal ≥ 0.8). Then it exports the
default net to ONNX and measures batch-1 inference through onnxruntime_go, as the station
runs it. Rounds alternate the sides and each keeps its best, because the machine may be
shared. Needs make setup-bench.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			lib, err := ortLibPath(cmd)
			if err != nil {
				return err
			}
			cfg.ORTLib = lib
			os.Setenv("ONNXRUNTIME_SHARED_LIBRARY_PATH", lib)
			cfg.Out = cmd.ErrOrStderr()
			r, err := train.Bench(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "training img/s (64x64x3, batch 32, Adam; best of %d rounds)\n", cfg.Rounds)
			fmt.Fprintf(w, "  default net, GoMLX/ONNX Runtime      %7.0f\n", r.DefaultTrain)
			fmt.Fprintf(w, "  reference net, GoMLX/ONNX Runtime    %7.0f\n", r.ReferenceTrain)
			fmt.Fprintf(w, "  reference net, PyTorch %s (%d thr) %7.0f\n", r.TorchVersion, cfg.Threads, r.TorchTrain)
			fmt.Fprintf(w, "  ratio ours/PyTorch                   %7.2f (goal >= 0.80)\n", r.Ratio)
			fmt.Fprintf(w, "inference img/s, exported default net, onnxruntime_go, batch 1: %.0f\n", r.Inference)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Python, "python", "/usr/bin/python3", "Python interpreter that can import torch (Debian's python3-torch)")
	f.IntVar(&cfg.Threads, "threads", 2, "PyTorch threads (torch.set_num_threads)")
	f.IntVar(&cfg.Images, "images", 512, "synthetic images the batches cycle through")
	f.IntVar(&cfg.Steps, "steps", 60, "timed training steps per case")
	f.IntVar(&cfg.Warmup, "warmup", 5, "untimed steps before timing (graph compilation)")
	f.IntVar(&cfg.Rounds, "rounds", 3, "alternating rounds of both sides; each keeps its best")
	f.Uint64Var(&cfg.Seed, "seed", 1, "seed for the synthetic data and initial weights")
	return cmd
}
