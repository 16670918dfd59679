package main

import (
	"github.com/pruefplatz/pruefplatz/augment/bench"
	"github.com/spf13/cobra"
)

// newBenchCmd groups the benchmarks; each child lives in its owner's file and
// is added here with one line.
func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure speed against the Python peers (needs make setup-bench)",
	}
	cmd.AddCommand(
		newBenchAugmentCmd(),
		newBenchTrainCmd(),
		newBenchEmbedCmd(),
		newBenchCatalogueCmd(),
		newBenchAnomalyCmd(),
	)
	return cmd
}

func newBenchAugmentCmd() *cobra.Command {
	var cfg bench.Config
	cmd := &cobra.Command{
		Use:   "augment",
		Short: "Images per second of the augment transforms, ours versus Python with OpenCV",
		Long: `augment times rotation, shift, mirror, brightness/contrast and the default pipeline on
deterministic synthetic 256×256 and 640×480 images, on one core (GOMAXPROCS 1, OpenCV
threads 1, one worker) and on all cores (one worker per core), then runs the same transforms
in Python with OpenCV on the same images (written to a temp folder) and prints img/s for both
and the ratio. Mirror and brightness are measured with gocv and with disintegration/imaging.
On all cores the Python side is one process with OpenCV's default thread pool.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := bench.Run(cmd.Context(), cfg, cmd.OutOrStdout())
			return err
		},
	}
	cmd.Flags().Float64Var(&cfg.Seconds, "seconds", 0.5, "measuring time per case and side")
	cmd.Flags().IntVar(&cfg.Rounds, "rounds", 2, "alternating rounds of both sides; each side keeps its best (the machine may be shared)")
	cmd.Flags().StringVar(&cfg.Python, "python", "/usr/bin/python3", "Python interpreter that can import cv2 (Debian's python3-opencv)")
	return cmd
}
