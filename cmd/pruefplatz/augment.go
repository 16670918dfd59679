package main

import (
	"fmt"
	"os"

	"github.com/pruefplatz/pruefplatz/augment"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
)

func newAugmentCmd() *cobra.Command {
	var o augment.Options
	var pipelineFile string
	cmd := &cobra.Command{
		Use:   "augment --in DIR --out DIR --per-image N --seed S",
		Short: "Write augmented variants of every image in an ImageFolder dataset",
		Long: `augment reads DIR/<class>/*.jpg|jpeg|png|bmp from --in and writes --per-image variants
of each into --out, keeping the class folders (JPEG for JPEG inputs, PNG otherwise).
It never writes into the input and refuses an output folder inside it. Each file is written
to a temp file and renamed, so an interrupted run leaves no half-written image. The output
folder gets augment-manifest.json: the seed, the pipeline and, per output, the source's
sha256 and the exact parameters drawn. The same input, pipeline and seed give byte-identical
output whatever --workers is. Unreadable inputs are reported by path and skipped; the run
then finishes and exits non-zero with a summary.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Pipeline = augment.DefaultPipeline()
			if pipelineFile != "" {
				p, err := augment.LoadPipeline(pipelineFile)
				if err != nil {
					return err
				}
				o.Pipeline = p
			}
			if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				if n, err := countImages(o.In); err == nil {
					bar := progressbar.NewOptions(n, progressbar.OptionSetWriter(os.Stderr),
						progressbar.OptionSetDescription("augment"), progressbar.OptionShowCount(),
						progressbar.OptionClearOnFinish())
					o.Progress = func() { _ = bar.Add(1) }
					defer bar.Finish()
				}
			}
			sum, err := augment.Run(cmd.Context(), o)
			fmt.Fprintf(cmd.OutOrStdout(), "%d source image(s), %d written, %d skipped\n", sum.Sources, sum.Written, len(sum.Skipped))
			for _, p := range sum.Skipped {
				fmt.Fprintf(cmd.OutOrStdout(), "  skipped %s: %s\n", p.Path, p.Err)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.In, "in", "", "input dataset folder (DIR/<class>/<image>); never written to")
	f.StringVar(&o.Out, "out", "", "output folder; must be empty (or missing) unless --force, and not inside --in")
	f.IntVar(&o.PerImage, "per-image", 5, "number of variants written per input image")
	f.Uint64Var(&o.Seed, "seed", 1, "seed; with the same input and pipeline it fixes every output byte")
	f.StringVar(&pipelineFile, "pipeline", "", "pipeline file (YAML or JSON: steps with type, p and ranges); default: mild augmentation")
	f.BoolVar(&o.Force, "force", false, "write into a non-empty output folder (files with the same names are replaced)")
	f.IntVar(&o.Workers, "workers", 0, "images processed in parallel (0 = all cores); does not change the output")
	f.StringVar(&o.Preview, "preview", "", "also write a contact sheet PNG here: up to 8 originals, each beside its variants")
	_ = cmd.MarkFlagRequired("in")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// countImages sizes the progress bar; Run does its own listing.
func countImages(dir string) (int, error) {
	n := 0
	err := augment.WalkImages(dir, func(string) { n++ })
	return n, err
}
