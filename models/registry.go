package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/pruefplatz/pruefplatz/internal/atomicfile"
)

// File names inside a version folder.
const (
	ModelFile  = "model.onnx"
	CardFile   = "card.json"
	ActiveFile = "active.json"
)

// Errors returned by the registry.
var (
	// ErrNoModel is returned for a name/version that is not in the registry.
	ErrNoModel = errors.New("no such model")
	// ErrTampered is returned when a model file does not match its card's sha256.
	ErrTampered = errors.New("model file does not match its card")
	// ErrLabelChange is returned by CheckLabels when a new version's labels
	// differ from the previous version's: stations, reviews and dashboards
	// keyed by label would silently mean something else.
	ErrLabelChange = errors.New("labels differ from the previous version's")
	// ErrNoHistory is returned by Rollback when there is nothing to go back to.
	ErrNoHistory = errors.New("no earlier active model to roll back to")
)

// Registry is a folder of versioned models: Root/<name>/<version>/{model.onnx,card.json}
// and Root/active.json naming the model the station serves.
type Registry struct {
	Root string
}

// Active is the content of active.json.
type Active struct {
	Name    string     `json:"name"`
	Version string     `json:"version"`
	History []ModelKey `json:"history,omitempty"` // earlier active models, oldest first
}

// ModelKey names a model version.
type ModelKey struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (k ModelKey) String() string { return k.Name + "/" + k.Version }

// Dir is the folder of a model version.
func (r Registry) Dir(name, version string) string { return filepath.Join(r.Root, name, version) }

// ModelPath is the ONNX file of a card's version.
func (r Registry) ModelPath(c *Card) string {
	return filepath.Join(r.Dir(c.Name, c.Version), ModelFile)
}

// Get reads a version's card; version "" or "latest" means the newest.
func (r Registry) Get(name, version string) (*Card, error) {
	if version == "" || version == "latest" {
		vs, err := r.versions(name)
		if err != nil || len(vs) == 0 {
			return nil, fmt.Errorf("%w: %s", ErrNoModel, name)
		}
		version = vs[len(vs)-1]
	}
	if !validName(name) || !validName(version) {
		return nil, fmt.Errorf("%w: %q/%q", ErrNoModel, name, version)
	}
	c, err := LoadCard(filepath.Join(r.Dir(name, version), CardFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s/%s", ErrNoModel, name, version)
	}
	return c, err
}

// List returns every readable card, by name then version. Unreadable cards
// are skipped and reported in the error list.
func (r Registry) List() ([]*Card, []error) {
	entries, err := os.ReadDir(r.Root)
	if err != nil {
		return nil, []error{err}
	}
	var cards []*Card
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		vs, _ := r.versions(e.Name())
		for _, v := range vs {
			c, err := LoadCard(filepath.Join(r.Dir(e.Name(), v), CardFile))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			cards = append(cards, c)
		}
	}
	return cards, errs
}

// versions lists a model's version folders in version order (v1 < v2 < v10).
func (r Registry) versions(name string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(r.Root, name))
	if err != nil {
		return nil, err
	}
	var vs []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			if _, err := os.Stat(filepath.Join(r.Root, name, e.Name(), CardFile)); err == nil {
				vs = append(vs, e.Name())
			}
		}
	}
	sort.Slice(vs, func(i, j int) bool {
		return versionNum(vs[i]) < versionNum(vs[j]) || (versionNum(vs[i]) == versionNum(vs[j]) && vs[i] < vs[j])
	})
	return vs, nil
}

func versionNum(v string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "v"))
	if err != nil {
		return -1
	}
	return n
}

// CheckLabels returns an error wrapping ErrLabelChange when the newest
// version of name has labels other than labels (in order); a model with no
// version yet passes.
func (r Registry) CheckLabels(name string, labels []string) error {
	prev, err := r.Get(name, "latest")
	if errors.Is(err, ErrNoModel) {
		return nil
	}
	if err != nil {
		return err
	}
	if strings.Join(prev.Labels, "\x00") != strings.Join(labels, "\x00") {
		return fmt.Errorf("%w: %s/%s has %v, the new version %v", ErrLabelChange, name, prev.Version, prev.Labels, labels)
	}
	return nil
}

// NextVersion is the version a new model of this name gets: v1, v2, …
func (r Registry) NextVersion(name string) string {
	vs, _ := r.versions(name)
	n := 0
	for _, v := range vs {
		n = max(n, versionNum(v))
	}
	return "v" + strconv.Itoa(n+1)
}

func validName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\`)
}

// Publish writes a new version atomically: files (name in the version
// folder → path of a finished file) are copied into a temporary folder
// inside Root together with the card, synced, and the folder is renamed into
// place. A crash or error leaves no partial version. The card's ONNXSHA256
// is set from the model file.
func (r Registry) Publish(c *Card, files map[string]string) (dir string, err error) {
	if !validName(c.Name) || !validName(c.Version) {
		return "", fmt.Errorf("publish: bad name or version %q/%q", c.Name, c.Version)
	}
	src, ok := files[ModelFile]
	if !ok {
		return "", fmt.Errorf("publish: no %s", ModelFile)
	}
	sum, err := FileSHA256(src)
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	c.ONNXSHA256 = sum
	for name := range c.FileSHA256 {
		src, ok := files[name]
		if !ok {
			return "", fmt.Errorf("publish: the card lists %s, which is not among the files", name)
		}
		if c.FileSHA256[name], err = FileSHA256(src); err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
	}
	if err := c.Validate(); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	final := r.Dir(c.Name, c.Version)
	if _, err := os.Stat(final); err == nil {
		return "", fmt.Errorf("publish: %s exists; versions are never overwritten", final)
	}
	if err := os.MkdirAll(filepath.Join(r.Root, c.Name), 0o755); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Join(r.Root, c.Name), ".publish-")
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	// MkdirTemp makes the folder private; a published model is for everyone.
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("publish: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	// A fixed order makes a failing file fail at the same point every time.
	names := make([]string, 0, len(files))
	for name := range files {
		if !validName(name) || name == CardFile {
			return "", fmt.Errorf("publish: bad file name %q", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := copyFileSync(files[name], filepath.Join(tmp, name)); err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(filepath.Join(tmp, CardFile), append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	if err := atomicfile.SyncDir(tmp); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	return final, atomicfile.SyncDir(filepath.Dir(final))
}

// Verify checks that a card's model file and every other file it lists in
// FileSHA256 exist and match their sha256 (ErrTampered when one differs).
func (r Registry) Verify(c *Card) error {
	if err := r.verifyModel(c); err != nil {
		return err
	}
	names := make([]string, 0, len(c.FileSHA256))
	for n := range c.FileSHA256 {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !validName(n) {
			return fmt.Errorf("%w: %s/%s lists a bad file name %q", ErrTampered, c.Name, c.Version, n)
		}
		path := filepath.Join(r.Dir(c.Name, c.Version), n)
		sum, err := FileSHA256(path)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", c.Name, c.Version, err)
		}
		if want := c.FileSHA256[n]; sum != want {
			return fmt.Errorf("%w: %s has sha256 %s, the card says %s", ErrTampered, path, sum[:12], want[:min(12, len(want))])
		}
	}
	return nil
}

func (r Registry) verifyModel(c *Card) error {
	sum, err := FileSHA256(r.ModelPath(c))
	if err != nil {
		return fmt.Errorf("%s/%s: %w", c.Name, c.Version, err)
	}
	if sum != c.ONNXSHA256 {
		return fmt.Errorf("%w: %s has sha256 %s, the card says %s", ErrTampered, r.ModelPath(c), sum[:12], c.ONNXSHA256[:min(12, len(c.ONNXSHA256))])
	}
	return nil
}

// ReadActive returns the active model: an error wrapping ErrNoModel when
// none was activated, a parse error naming the file when it is unreadable.
func (r Registry) ReadActive() (*Active, error) {
	b, err := os.ReadFile(filepath.Join(r.Root, ActiveFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: no model activated in %s", ErrNoModel, r.Root)
	}
	if err != nil {
		return nil, err
	}
	var a Active
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(r.Root, ActiveFile), err)
	}
	return &a, nil
}

// ActiveCard returns the active model's card.
func (r Registry) ActiveCard() (*Card, error) {
	a, err := r.ReadActive()
	if err != nil {
		return nil, err
	}
	return r.Get(a.Name, a.Version)
}

// Activate makes name/version the active model and pushes the previous one
// onto the history. It first verifies the file against the card's sha256
// (ErrTampered) and runs check (the caller opens the model with its runtime
// and compares shapes, typically returning an error wrapping
// inspector.ErrModelShape); on any failure, including an unknown model
// (ErrNoModel) or an unreadable active.json, the active model stays.
// Activating the active model again changes nothing.
func (r Registry) Activate(name, version string, check func(c *Card, modelPath string) error) (*Card, error) {
	c, err := r.Get(name, version)
	if err != nil {
		return nil, err
	}
	if err := r.Verify(c); err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(c, r.ModelPath(c)); err != nil {
			return nil, fmt.Errorf("%s/%s refused: %w", c.Name, c.Version, err)
		}
	}
	a, err := r.ReadActive()
	if errors.Is(err, ErrNoModel) {
		a = &Active{}
	} else if err != nil {
		// Overwriting an unreadable active.json would lose its history.
		return nil, err
	}
	if a.Name == c.Name && a.Version == c.Version {
		return c, nil
	}
	if a.Name != "" {
		a.History = append(a.History, ModelKey{a.Name, a.Version})
	}
	a.Name, a.Version = c.Name, c.Version
	return c, r.writeActive(a)
}

// Rollback re-activates the previously active model, checked like Activate,
// and drops it from the history. It returns ErrNoHistory when there is none
// and leaves active.json unchanged on any error.
func (r Registry) Rollback(check func(c *Card, modelPath string) error) (*Card, error) {
	a, err := r.ReadActive()
	if err != nil {
		return nil, err
	}
	if len(a.History) == 0 {
		return nil, ErrNoHistory
	}
	prev := a.History[len(a.History)-1]
	c, err := r.Get(prev.Name, prev.Version)
	if err != nil {
		return nil, err
	}
	if err := r.Verify(c); err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(c, r.ModelPath(c)); err != nil {
			return nil, fmt.Errorf("%s refused: %w", prev, err)
		}
	}
	a.History = a.History[:len(a.History)-1]
	a.Name, a.Version = prev.Name, prev.Version
	return c, r.writeActive(a)
}

func (r Registry) writeActive(a *Active) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.Root, 0o755); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(r.Root, ActiveFile), append(b, '\n'), 0o644)
}

// FileSHA256 returns the hex sha256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func copyFileSync(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
