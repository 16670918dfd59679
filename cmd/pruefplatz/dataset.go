package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"github.com/spf13/cobra"
)

func newDatasetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dataset",
		Short: "Look at image datasets in the ImageFolder layout (DIR/<class>/<image>)",
	}
	cmd.AddCommand(newDatasetInspectCmd(), newDatasetFromStoreCmd())
	return cmd
}

func newDatasetInspectCmd() *cobra.Command {
	var verify, asJSON bool
	var seed uint64
	var valFrac, testFrac float64
	cmd := &cobra.Command{
		Use:   "inspect DIR",
		Short: "Print class counts, image sizes, the split and every problem found",
		Long: `inspect reads DIR/<class>/*.jpg|jpeg|png|bmp and prints, per class, the number of
images and their size range, how many capture sessions and angles they came from, how a
training run with the same seed would split them (a class captured in several sessions is
split by session), warnings (a class from a single session), and every problem by file name: unreadable files, files that are not images, empty classes,
classes too small to split. It exits non-zero when the folder is not a usable dataset.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds, err := datasets.LoadWith(args[0], datasets.Options{Verify: verify})
			if ds == nil {
				return err
			}
			sp := ds.Split(seed, valFrac, testFrac)
			out := cmd.OutOrStdout()
			rep := inspectReport(ds, sp)
			in, ierr := datasets.InspectLoaded(ds)
			if ierr != nil {
				return ierr
			}
			if err != nil {
				in.Warnings = append(in.Warnings, err.Error())
			}
			rep.Warnings, rep.Sessions = in.Warnings, in.Sessions
			for i, c := range in.Classes {
				rep.Classes[i].Sessions, rep.Classes[i].Angles = c.Sessions, c.Angles
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if e := enc.Encode(rep); e != nil {
					return e
				}
				return err
			}
			tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "class\timages\tsessions\tangles\ttrain\tval\ttest\tmin size\tmax size\t")
			for _, r := range rep.Classes {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", r.Class, r.Images, r.Sessions, r.Angles, r.Train, r.Val, r.Test, r.MinSize, r.MaxSize)
			}
			fmt.Fprintf(tw, "total\t%d\t%d\t\t%d\t%d\t%d\t\t\t\n", len(ds.Samples), len(in.Sessions), len(sp.Train), len(sp.Val), len(sp.Test))
			tw.Flush()
			if len(rep.Warnings) > 0 {
				fmt.Fprintf(out, "\n%d warning(s):\n", len(rep.Warnings))
				for _, w := range rep.Warnings {
					fmt.Fprintln(out, "  "+w)
				}
			}
			if len(ds.Problems) > 0 {
				fmt.Fprintf(out, "\n%d problem(s):\n", len(ds.Problems))
				for _, p := range ds.Problems {
					fmt.Fprintln(out, "  "+p.String())
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&verify, "verify", false, "decode every image in full (finds truncated files; slower)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "split seed (as for train)")
	cmd.Flags().Float64Var(&valFrac, "val", 0.15, "validation fraction per class")
	cmd.Flags().Float64Var(&testFrac, "test", 0.15, "test fraction per class")
	return cmd
}

type classReport struct {
	Class                    string
	Images, Train, Val, Test int
	MinSize, MaxSize         string
	// Sessions and Angles count the capture sessions and angles the
	// class's images came from (0 for images from elsewhere).
	Sessions, Angles int
}

type datasetReport struct {
	Root     string
	Classes  []classReport
	Problems []datasets.Problem
	Warnings []string
	Sessions []*capture.Session
}

func inspectReport(ds *datasets.Dataset, sp datasets.Split) datasetReport {
	rep := datasetReport{Root: ds.Root, Problems: ds.Problems}
	tr, va, te := datasets.ClassCounts(sp.Train), datasets.ClassCounts(sp.Val), datasets.ClassCounts(sp.Test)
	for _, c := range ds.Classes {
		r := classReport{Class: c, Train: tr[c], Val: va[c], Test: te[c]}
		minA, maxA := -1, -1
		for _, s := range ds.Samples {
			if s.Class != c {
				continue
			}
			r.Images++
			a := s.Width * s.Height
			if minA < 0 || a < minA {
				minA, r.MinSize = a, fmt.Sprintf("%dx%d", s.Width, s.Height)
			}
			if a > maxA {
				maxA, r.MaxSize = a, fmt.Sprintf("%dx%d", s.Width, s.Height)
			}
		}
		rep.Classes = append(rep.Classes, r)
	}
	return rep
}
