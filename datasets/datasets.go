// Package datasets loads image datasets in the ImageFolder layout
// (DIR/<class>/*.jpg|png|bmp, as PyTorch's ImageFolder reads them), splits
// them deterministically and writes manifests that tie a trained model to the
// exact files it learned from.
package datasets

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // registered for DecodeConfig
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	_ "golang.org/x/image/bmp"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
)

// Sample is one labelled image.
type Sample struct {
	Path   string `json:"path"`
	Class  string `json:"class"`
	Label  int    `json:"label"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	// Group is the capture session the image came from (from its file
	// name, see capture.SessionOf); "" for images from elsewhere. Split
	// keeps a group's images together.
	Group string `json:"group,omitempty"`
}

// Problem is something wrong with one file or class. Warnings do not stop a
// run; other problems mean the file (or class) was left out.
type Problem struct {
	Path    string `json:"path"`
	Err     string `json:"error"`
	Warning bool   `json:"warning,omitempty"`
}

func (p Problem) String() string {
	kind := "skipped"
	if p.Warning {
		kind = "warning"
	}
	return fmt.Sprintf("%s: %s (%s)", p.Path, p.Err, kind)
}

// Dataset is a loaded ImageFolder: classes sorted by name, label = index.
type Dataset struct {
	Root     string    `json:"root"`
	Classes  []string  `json:"classes"`
	Samples  []Sample  `json:"samples"`
	Problems []Problem `json:"problems,omitempty"`
}

// Errors returned by Load.
var (
	// ErrNotDataset is returned when the folder cannot be read or holds no class folders.
	ErrNotDataset = errors.New("not an ImageFolder dataset")
	// ErrTooFewClasses is returned when fewer than two classes have usable images.
	ErrTooFewClasses = errors.New("a classifier needs at least two classes with images")
)

// MinPerClass is the number of images below which a class earns a warning:
// so few cannot be split into train, validation and test sets.
const MinPerClass = 5

// imageExts are the file endings Load reads, lower case.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true}

// Options tune Load.
type Options struct {
	// Verify decodes every image in full instead of only its header, which
	// finds truncated files at the cost of time.
	Verify bool
}

// Load reads DIR/<class>/<image> with header checks only. See LoadWith.
func Load(dir string) (*Dataset, error) { return LoadWith(dir, Options{}) }

// LoadWith reads an ImageFolder dataset. Unreadable and non-image files, and
// empty classes, are listed in Problems and left out; classes with fewer than
// MinPerClass images get a warning. Files in the root, hidden files and
// folders are ignored. It returns ErrNotDataset when dir has no class folders
// and ErrTooFewClasses when fewer than two classes have images.
func LoadWith(dir string, opt Options) (*Dataset, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotDataset, err)
	}
	ds := &Dataset{Root: dir}
	var classes []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if e.IsDir() || (e.Type()&os.ModeSymlink != 0 && isDir(filepath.Join(dir, e.Name()))) {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("%w: %s has no class folders (want %s/<class>/<image>)", ErrNotDataset, dir, dir)
	}
	sort.Strings(classes)
	for _, c := range classes {
		samples, problems := loadClass(dir, c, opt)
		ds.Problems = append(ds.Problems, problems...)
		switch {
		case len(samples) == 0:
			ds.Problems = append(ds.Problems, Problem{Path: filepath.Join(dir, c), Err: "empty class: no readable images; class left out"})
			continue
		case len(samples) < MinPerClass:
			ds.Problems = append(ds.Problems, Problem{Path: filepath.Join(dir, c), Warning: true,
				Err: fmt.Sprintf("only %d images (fewer than %d): too few to split and evaluate reliably", len(samples), MinPerClass)})
		}
		label := len(ds.Classes)
		for i := range samples {
			samples[i].Label = label
		}
		ds.Classes = append(ds.Classes, c)
		ds.Samples = append(ds.Samples, samples...)
	}
	if len(ds.Classes) < 2 {
		return ds, fmt.Errorf("%w: %s has %d usable class(es) %v", ErrTooFewClasses, dir, len(ds.Classes), ds.Classes)
	}
	return ds, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func loadClass(root, class string, opt Options) ([]Sample, []Problem) {
	dir := filepath.Join(root, class)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []Problem{{Path: dir, Err: err.Error()}}
	}
	var samples []Sample
	var problems []Problem
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") {
			continue
		}
		p := filepath.Join(dir, name)
		if !imageExts[strings.ToLower(filepath.Ext(name))] {
			problems = append(problems, Problem{Path: p, Err: "not an image file (want .jpg, .jpeg, .png or .bmp)"})
			continue
		}
		w, h, err := checkImage(p, opt.Verify)
		if err != nil {
			problems = append(problems, Problem{Path: p, Err: err.Error()})
			continue
		}
		samples = append(samples, Sample{Path: p, Class: class, Width: w, Height: h, Group: capture.SessionOf(name)})
	}
	return samples, problems
}

func checkImage(path string, full bool) (w, h int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("unreadable: %w", err)
	}
	defer f.Close()
	if full {
		img, _, err := image.Decode(f)
		if err != nil {
			return 0, 0, fmt.Errorf("not a decodable image: %w", err)
		}
		b := img.Bounds()
		return b.Dx(), b.Dy(), nil
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, 0, fmt.Errorf("unreadable: %w", err)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return 0, 0, fmt.Errorf("not a decodable image: %w", err)
	}
	if err := inspector.CheckComplete(format, data); err != nil {
		return 0, 0, fmt.Errorf("unreadable %s: %w", format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, 0, fmt.Errorf("image has no pixels (%dx%d)", cfg.Width, cfg.Height)
	}
	return cfg.Width, cfg.Height, nil
}

// ClassCounts returns the number of samples per class name.
func ClassCounts(samples []Sample) map[string]int {
	m := map[string]int{}
	for _, s := range samples {
		m[s.Class]++
	}
	return m
}
