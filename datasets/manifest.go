package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/pruefplatz/pruefplatz/internal/atomicfile"
)

// ManifestFile is one file of the dataset as it was used.
type ManifestFile struct {
	Path   string `json:"path"` // relative to the dataset root, slash-separated
	Class  string `json:"class"`
	Split  string `json:"split"` // "train", "val" or "test"
	SHA256 string `json:"sha256"`
	// Session is the capture session the image came from (Sample.Group),
	// so a model's documentation can say where its images came from.
	Session string `json:"session,omitempty"`
}

// Manifest records exactly which files, with which content, a model was
// trained and evaluated on. Its Hash goes into the model card, so a verdict
// can be traced back to its training data.
type Manifest struct {
	Root        string                    `json:"root"`
	Seed        uint64                    `json:"seed"`
	Classes     []string                  `json:"classes"`
	ClassCounts map[string]int            `json:"class_counts"`
	SplitCounts map[string]map[string]int `json:"split_counts"`
	Files       []ManifestFile            `json:"files"`
	Problems    []Problem                 `json:"problems,omitempty"`
}

// BuildManifest hashes every file of the split. It returns an error when a
// file cannot be read (it changed since Load).
func BuildManifest(d *Dataset, s Split, seed uint64) (*Manifest, error) {
	m := &Manifest{
		Root: d.Root, Seed: seed, Classes: d.Classes,
		ClassCounts: map[string]int{}, SplitCounts: map[string]map[string]int{},
		Problems: d.Problems,
	}
	add := func(name string, ss []Sample) error {
		counts := map[string]int{}
		for _, smp := range ss {
			sum, err := fileSHA256(smp.Path)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(d.Root, smp.Path)
			if err != nil {
				rel = smp.Path
			}
			m.Files = append(m.Files, ManifestFile{Path: filepath.ToSlash(rel), Class: smp.Class, Split: name, SHA256: sum, Session: smp.Group})
			m.ClassCounts[smp.Class]++
			counts[smp.Class]++
		}
		m.SplitCounts[name] = counts
		return nil
	}
	for _, part := range []struct {
		name string
		ss   []Sample
	}{{"train", s.Train}, {"val", s.Val}, {"test", s.Test}} {
		if err := add(part.name, part.ss); err != nil {
			return nil, err
		}
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	return m, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("manifest: reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Hash is the sha256 of the manifest's content: the files, their hashes,
// classes and split, but not the root folder, so the same data copied
// elsewhere hashes the same.
func (m *Manifest) Hash() string {
	c := *m
	c.Root = ""
	c.Problems = nil
	b, _ := json.Marshal(c) // maps marshal with sorted keys: canonical
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// WriteFile writes the manifest as indented JSON, atomically.
func (m *Manifest) WriteFile(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}
