package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/pruefplatz/pruefplatz/inspector/onnx"
	"github.com/pruefplatz/pruefplatz/models"
)

// newModelsCmd lists, shows, activates and rolls back registry models.
func newModelsCmd() *cobra.Command {
	var root string
	cmd := &cobra.Command{Use: "models", Short: "List, show, activate and roll back model versions"}
	cmd.PersistentFlags().StringVar(&root, "models", "models", "model registry folder")
	reg := func() models.Registry { return models.Registry{Root: root} }

	list := &cobra.Command{
		Use:   "list",
		Short: "Table of every model version; * marks the active one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := reg()
			cards, problems := r.List()
			act, _ := r.ReadActive()
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
			fmt.Fprintln(w, "\tNAME\tVERSION\tLABELS\tTEST ACC\tCREATED\tSHA256")
			for _, c := range cards {
				mark := ""
				if act != nil && act.Name == c.Name && act.Version == c.Version {
					mark = "*"
				}
				acc := "-"
				if m := c.Metrics["test"]; m != nil {
					acc = fmt.Sprintf("%.1f %%", 100*m.Accuracy)
				}
				if a := c.Anomaly; a != nil && a.Eval != nil {
					acc = fmt.Sprintf("AUROC %.3f", a.Eval.AUROC)
				}
				sha := c.ContentSHA256()
				if len(sha) > 12 {
					sha = sha[:12]
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", mark, c.Name, c.Version, len(c.Labels), acc,
					c.Created.UTC().Format("2006-01-02 15:04"), sha)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintf(cmd.OutOrStdout(), "problem: %v\n", p)
			}
			return nil
		},
	}

	var asJSON bool
	show := &cobra.Command{
		Use:   "show NAME[/VERSION]",
		Short: "Print a model card (latest version when VERSION is left out)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := modelRef(args)
			if err != nil {
				return err
			}
			c, err := reg().Get(name, version)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(c)
			}
			fmt.Fprintf(out, "%s/%s  created %s  tool %s\n", c.Name, c.Version, c.Created.UTC().Format("2006-01-02 15:04:05Z"), c.Tool)
			fmt.Fprintf(out, "labels: %s\nOK labels: %s\n", strings.Join(c.Labels, ", "), strings.Join(c.OKLabels, ", "))
			fmt.Fprintf(out, "input: %+v\narchitecture: %s\n", c.Input, c.Architecture)
			if c.Imported {
				fmt.Fprintln(out, "imported: trained elsewhere, no training record here; metrics come from pruefplatz eval")
			}
			if t := c.Training; t != nil {
				fmt.Fprintf(out, "training: backend %s, epochs %d run / best %d, batch %d, lr %g, seed %d, %.0f s\n",
					t.Backend, t.EpochsRun, t.BestEpoch, t.Batch, t.LearningRate, t.Seed, t.Seconds)
			}
			if d := c.Dataset; d != nil {
				fmt.Fprintf(out, "dataset: %s (manifest %s)\nclass counts: %v\n", d.Path, d.ManifestHash, d.ClassCounts)
			}
			fmt.Fprintf(out, "thresholds: accept %.3f, reject %.3f; rule: %s\n", c.Thresholds.Accept, c.Thresholds.Reject, c.ThresholdWhy)
			for _, split := range []string{"validation", "test"} {
				if m := c.Metrics[split]; m != nil {
					fmt.Fprintf(out, "\n%s metrics:\n%s\n", split, m.Table())
				}
			}
			if c.Verification != nil {
				v := c.Verification
				fmt.Fprintf(out, "verification: %s, max diff %g, tolerance %g, %d references\n", v.Runtime, v.MaxAbsDiff, v.Tolerance, len(v.References))
			}
			if a := c.Anomaly; a != nil {
				fmt.Fprintf(out, "anomaly model: %s, %d×%d tiles, bank %d of %d patches (%s), scores OK ≤ %.4g, NOK ≥ %.4g\n",
					a.Method, a.Grid, a.Grid, a.BankSize, a.Patches, a.BankFile, a.ScoreOK, a.ScoreNOK)
				if e := a.Eval; e != nil {
					fmt.Fprintf(out, "evaluation: image AUROC %.3f on %d good and %d defect images; recall %.1f %%, false alarms %.1f %%\n",
						e.AUROC, e.Good, e.Defects, 100*e.Recall, 100*e.FalseAlarms)
				}
			}
			if c.IntendedUse != "" || c.RiskCategory != "" {
				fmt.Fprintf(out, "intended use: %s\nlimitations: %s\nrisk category: %s (%s)\n", c.IntendedUse, c.Limitations, c.RiskCategory, c.RiskReason)
			}
			if q := c.Quality; q != nil {
				fmt.Fprintf(out, "data-quality checks (%s): %d warnings\n", q.Computed.UTC().Format("2006-01-02 15:04Z"), len(q.Warnings))
				for _, w := range q.Warnings {
					fmt.Fprintf(out, "  %s\n", w)
				}
			}
			fmt.Fprintf(out, "sha256: %s\n", c.ONNXSHA256)
			for n, sum := range c.FileSHA256 {
				fmt.Fprintf(out, "sha256 of %s: %s\n", n, sum)
			}
			if len(c.FileSHA256) > 0 {
				fmt.Fprintf(out, "content sha256 (recorded with every verdict): %s\n", c.ContentSHA256())
			}
			return nil
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print the card as JSON")

	check := func(cmd *cobra.Command) func(*models.Card, string) error {
		return func(c *models.Card, path string) error {
			if err := initORT(cmd); err != nil {
				return err
			}
			s, err := openModel(c, path, onnx.Options{})
			if err != nil {
				return fmt.Errorf("model %s/%s refused: %w", c.Name, c.Version, err)
			}
			return s.Close()
		}
	}
	activate := &cobra.Command{
		Use:   "activate NAME/VERSION",
		Short: "Make a model version the active one after checking its file and shapes",
		Long: `activate makes NAME/VERSION the active model after checking its file and shapes;
a running station follows within seconds. "activate NAME VERSION" works too.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, err := versionRef("activate", args)
			if err != nil {
				return err
			}
			c, err := reg().Activate(name, version, check(cmd))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "active: %s/%s\n", c.Name, c.Version)
			return nil
		},
	}
	rollback := &cobra.Command{
		Use:   "rollback",
		Short: "Re-activate the previously active model after checking it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := reg().Rollback(check(cmd))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "active: %s/%s\n", c.Name, c.Version)
			return nil
		},
	}
	cmd.AddCommand(list, show, activate, rollback, newModelsImportCmd(&root))
	cmd.AddCommand(newModelsDocCmds(&root)...)
	return cmd
}

// modelRef reads a model reference given as NAME, NAME/VERSION or the two
// words NAME VERSION; every command that names a model takes these forms.
// versionRef is modelRef for commands that act on one version and so need
// it named.
func versionRef(verb string, args []string) (name, version string, err error) {
	name, version, err = modelRef(args)
	if err == nil && version == "" {
		err = fmt.Errorf("%s %s: name the version too (NAME/VERSION; `pruefplatz models list` shows them)", verb, name)
	}
	return name, version, err
}

func modelRef(args []string) (name, version string, err error) {
	switch len(args) {
	case 1:
		name, version, _ = strings.Cut(args[0], "/")
	case 2:
		if strings.Contains(args[0], "/") {
			return "", "", fmt.Errorf("model %q %q: give NAME/VERSION or NAME VERSION, not both", args[0], args[1])
		}
		name, version = args[0], args[1]
	default:
		return "", "", fmt.Errorf("name one model as NAME/VERSION")
	}
	if name == "" || strings.Contains(version, "/") {
		return "", "", fmt.Errorf("model %q: want NAME or NAME/VERSION", strings.Join(args, " "))
	}
	return name, version, nil
}
