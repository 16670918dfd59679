package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
	"github.com/pruefplatz/pruefplatz/internal/atomicfile"
)

// FromStoreManifestFile is the manifest an export from the verdict store
// writes at the dataset's root (the loader reads only class folders).
const FromStoreManifestFile = "from-store.json"

// fromStoreManifest links every exported image to the verdict it came from.
type fromStoreManifest struct {
	Store       string          `json:"store"`
	Since       time.Time       `json:"since"`
	Created     time.Time       `json:"created"`
	Classes     []string        `json:"classes"`
	ClassCounts map[string]int  `json:"class_counts"`
	Overrides   int             `json:"overrides"`
	Files       []fromStoreFile `json:"files"`
	// Skipped names reviewed verdicts that could not be exported (no
	// stored frame: demo history keeps thumbnails only).
	Skipped []string `json:"skipped,omitempty"`
}

// fromStoreFile is one exported frame.
type fromStoreFile struct {
	Path      string             `json:"path"` // relative to the dataset root, slash-separated
	Class     string             `json:"class"`
	SHA256    string             `json:"sha256"`
	VerdictID uint64             `json:"verdict_id"`
	Time      time.Time          `json:"time"`
	Model     inspector.ModelRef `json:"model"`
	// ModelOutcome and ModelLabel are what the model said.
	ModelOutcome inspector.Outcome `json:"model_outcome"`
	ModelLabel   string            `json:"model_label"`
	Reviewer     string            `json:"reviewer"`
	ReviewedVia  string            `json:"reviewed_via,omitempty"`
	ReviewedAt   time.Time         `json:"reviewed_at"`
	// Override is true when the reviewer overruled the model (it was wrong).
	Override bool   `json:"override"`
	Comment  string `json:"comment,omitempty"`
}

func newDatasetFromStoreCmd() *cobra.Command {
	var store, since, out string
	var reviewed bool
	cmd := &cobra.Command{
		Use:   "from-store --store FILE --reviewed --out DIR [--since DATE]",
		Short: "Export the reviewed frames of the verdict store as an ImageFolder dataset for train",
		Long: `from-store writes every reviewed verdict's frame (since --since, a date or RFC 3339
time) to DIR/<class>/v<id>.jpg, the class being the reviewer's label, and
DIR/` + FromStoreManifestFile + `, which links each image to its verdict id, the model that
judged it, the reviewer, and whether the reviewer overruled the model (override).
The result is ready for "pruefplatz train --data DIR". DIR must not exist; the
export is written beside it and renamed into place when complete. A store that a
running station holds cannot be opened: stop the station, or export from a copy
(GET /api/backup).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !reviewed {
				return errors.New("--reviewed is required: only reviewed frames carry a label a human chose")
			}
			if out == "" {
				return errors.New("--out is required")
			}
			var from time.Time
			if since != "" {
				t, err := time.ParseInLocation("2006-01-02", since, time.Local)
				if err != nil {
					if t, err = time.Parse(time.RFC3339, since); err != nil {
						return fmt.Errorf("--since %q: want YYYY-MM-DD or an RFC 3339 time", since)
					}
				}
				from = t
			}
			m, err := exportFromStore(cmd.Context(), store, from, out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d images in %d classes (%d overrides) written to %s", len(m.Files), len(m.Classes), m.Overrides, out)
			if len(m.Skipped) > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "; %d reviewed verdicts without a stored frame skipped", len(m.Skipped))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&store, "store", "station-data/verdicts.db", "verdict store file")
	f.StringVar(&since, "since", "", "only verdicts at or after this date (YYYY-MM-DD, local) or time (RFC 3339)")
	f.BoolVar(&reviewed, "reviewed", false, "export the reviewed verdicts (required; the label is the reviewer's)")
	f.StringVar(&out, "out", "", "dataset folder to create")
	return cmd
}

// exportFromStore writes the dataset (see newDatasetFromStoreCmd) and
// returns its manifest. Nothing is left at out on failure.
func exportFromStore(ctx context.Context, storePath string, from time.Time, out string) (*fromStoreManifest, error) {
	if _, err := os.Stat(out); err == nil {
		return nil, fmt.Errorf("%s exists: choose a new folder", out)
	}
	if _, err := os.Stat(storePath); err != nil {
		return nil, fmt.Errorf("verdict store: %w", err)
	}
	st, err := bolt.Open(storePath)
	if errors.Is(err, bolt.ErrInUse) {
		return nil, fmt.Errorf("%w: a running station holds it; stop the station, or export from a copy (GET /api/backup)", err)
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return nil, err
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	m := &fromStoreManifest{Store: storePath, Since: from, Created: time.Now().UTC(), ClassCounts: map[string]int{}}
	q := inspector.VerdictQuery{From: from, Limit: 1000}
	for {
		vs, err := st.List(ctx, q)
		if err != nil {
			return nil, err
		}
		for i := range vs {
			v := &vs[i]
			if v.Review == nil || v.Review.Label == "" {
				continue
			}
			if err := exportOne(st, tmp, v, m); err != nil {
				return nil, err
			}
		}
		if len(vs) < q.Limit {
			break
		}
		q.Before = vs[len(vs)-1].ID
	}
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("no reviewed verdicts with a stored frame in %s since %s", storePath, from.Format(time.RFC3339))
	}
	for c := range m.ClassCounts {
		m.Classes = append(m.Classes, c)
	}
	sort.Strings(m.Classes)
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(tmp, FromStoreManifestFile), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, fmt.Errorf("publishing %s: %w", out, err)
	}
	done = true
	return m, atomicfile.SyncDir(parent)
}

func exportOne(st *bolt.Store, dir string, v *inspector.Verdict, m *fromStoreManifest) error {
	img, err := st.Image(v.ID, false)
	if errors.Is(err, inspector.ErrNotFound) {
		m.Skipped = append(m.Skipped, fmt.Sprintf("verdict %d", v.ID))
		return nil
	}
	if err != nil {
		return err
	}
	class := v.Review.Label
	// A label becomes a folder name: it must stay one folder.
	if class == "." || class == ".." || strings.ContainsAny(class, `/\`) || strings.HasPrefix(class, ".") {
		m.Skipped = append(m.Skipped, fmt.Sprintf("verdict %d (label %q is no folder name)", v.ID, class))
		return nil
	}
	if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
		return err
	}
	rel := class + "/" + fmt.Sprintf("v%d.jpg", v.ID)
	if err := atomicfile.Write(filepath.Join(dir, filepath.FromSlash(rel)), img, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(img)
	f := fromStoreFile{Path: rel, Class: class, SHA256: hex.EncodeToString(sum[:]), VerdictID: v.ID, Time: v.Time,
		Model: v.Model, ModelOutcome: v.Outcome, ModelLabel: v.Label, Reviewer: v.Review.By, ReviewedVia: v.Review.Via,
		ReviewedAt: v.Review.At, Override: shiftstats.Overridden(v), Comment: v.Review.Comment}
	if f.Override {
		m.Overrides++
	}
	m.Files = append(m.Files, f)
	m.ClassCounts[class]++
	return nil
}
