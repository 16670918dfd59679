package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/spf13/cobra"
)

func newDemoDataCmd() *cobra.Command {
	var opt demo.Options
	var sheets string
	var catOnly bool
	cmd := &cobra.Command{
		Use:   "demo-data",
		Short: "Generate the demo datasets and the demo camera feed",
		Long: `demo-data draws the demo data deterministically from a seed:
  OUT/demo-parts/<class>/    spare parts (washer, hex nut, hex bolt, spring, angle bracket, ball bearing)
  OUT/demo-defects/<class>/  a flange: ok, scratch, crack, dent, missing_hole
  OUT/demo-defects-masks/<class>/NAME.png  where each defect was drawn (255 on the defect)
  OUT/demo-feed/feed.avi     flanges sliding onto the table, resting 2 s and leaving,
                             15 fps MJPG, with timeline.json saying which part was where when
  OUT/demo-catalogue/        the sales catalogue: 41 parts in look-alike families with 5
                             reference photos each (reference/<part>/), customers' phone
                             photos of them (customer/<part>/) and of 8 parts not in it
                             (unknown/<part>/), and parts.csv
as a cheap 640x480 webcam over an inspection table would see them. The same seed gives
the same files on the same machine. A second run with the same options returns at once;
otherwise demo-parts/ and demo-defects/ under OUT are replaced entirely.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			opt.Progress = demoProgress(cmd.OutOrStdout())
			if !catOnly {
				if err := demo.Generate(cmd.Context(), opt); err != nil {
					return err
				}
			}
			if err := demo.GenerateCatalogue(cmd.Context(), demo.CatalogueOptions{Seed: opt.Seed, Out: opt.Out,
				Workers: opt.Workers, Force: opt.Force, Progress: opt.Progress}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "demo data in %s (seed %d) ready after %.1fs\n", opt.Out, opt.Seed, time.Since(start).Seconds())
			if sheets != "" && !catOnly {
				for _, set := range []string{demo.SetParts, demo.SetDefects} {
					out := filepath.Join(sheets, set+".png")
					if err := demo.ContactSheet(filepath.Join(opt.Out, set), out, 6, 96); err != nil {
						return err
					}
					fmt.Fprintln(cmd.OutOrStdout(), "contact sheet:", out)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opt.Out, "out", "datasets", "folder to write demo-parts/, demo-defects/ and demo-feed/ into")
	cmd.Flags().Uint64Var(&opt.Seed, "seed", 1, "random seed; the same seed gives the same images")
	cmd.Flags().IntVar(&opt.PerClass, "per-class", 200, "images per class")
	cmd.Flags().IntVar(&opt.FeedParts, "feed-parts", 14, "parts that pass through the demo feed")
	cmd.Flags().IntVar(&opt.Workers, "workers", 0, "parallel workers (default: all cores)")
	cmd.Flags().BoolVar(&opt.Force, "force", false, "regenerate even if the data is already there")
	cmd.Flags().BoolVar(&catOnly, "catalogue-only", false, "write only demo-catalogue/")
	cmd.Flags().StringVar(&sheets, "sheets", "", "also write a contact sheet PNG per set into this folder")
	return cmd
}

// demoProgress prints each demo-data step at every tenth of the way, so a
// first `make run` shows what it is waiting for.
func demoProgress(w io.Writer) func(step string, done, total int) {
	last := map[string]int{}
	return func(step string, done, total int) {
		if total <= 0 {
			return
		}
		tenth := 10 * done / total
		if prev, seen := last[step]; seen && prev == tenth {
			return
		}
		last[step] = tenth
		fmt.Fprintf(w, "demo data: %-12s %3d %% (%d of %d)\n", step, 10*tenth, done, total)
	}
}
