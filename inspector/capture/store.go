package capture

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pruefplatz/pruefplatz/internal/atomicfile"
	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// SessionsDir is the hidden folder of a dataset that holds the sessions'
// manifests, contact sheets and archives (dataset loaders skip it).
const SessionsDir = ".sessions"

// File names inside a session's folder.
const (
	ManifestName = "session.json"
	SheetName    = "contact.png"
)

// Store keeps the sessions of one dataset folder (see the package doc for
// the layout). Its methods are safe for concurrent use.
type Store struct {
	// Root is the dataset folder.
	Root string
	// Create makes the temporary files every write goes through (nil:
	// os.CreateTemp). Tests pass one that fails as a full disk does.
	Create atomicfile.CreateFunc
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	mu  sync.Mutex
}

func (st *Store) now() time.Time {
	if st.Now != nil {
		return st.Now().UTC()
	}
	return time.Now().UTC()
}

func (st *Store) write(p string, data []byte) error {
	c := st.Create
	if c == nil {
		c = atomicfile.OSCreate
	}
	return atomicfile.WriteWith(c, p, data, 0o644)
}

func (st *Store) dir(id string) string { return filepath.Join(st.Root, SessionsDir, id) }

// Begin makes the session's folders and writes its first manifest. It
// returns the file system's error.
func (st *Store) Begin(s *Session) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := os.MkdirAll(st.dir(s.ID), 0o755); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(st.Root, s.Target.Folder()), 0o755); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	return st.saveLocked(s)
}

// Save rewrites the session's manifest.
func (st *Store) Save(s *Session) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.saveLocked(s)
}

func (st *Store) saveLocked(s *Session) error {
	s.Updated = st.now()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := st.write(filepath.Join(st.dir(s.ID), ManifestName), append(b, '\n')); err != nil {
		return fmt.Errorf("capture: manifest: %w", err)
	}
	return nil
}

// AddFrame writes an accepted frame of view v, then the manifest that lists
// it. On error the session is unchanged and no new file is left behind.
func (st *Store) AddFrame(s *Session, v int, jpegData []byte, m Measure) (Frame, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	name := frameName(s.ID, v, s.Views[v].Angle, s.taken(v))
	rel := path.Join(s.Target.Folder(), name)
	p := filepath.Join(st.Root, filepath.FromSlash(rel))
	if err := st.write(p, jpegData); err != nil {
		return Frame{}, fmt.Errorf("capture: frame: %w", err)
	}
	sum := sha256.Sum256(jpegData)
	f := Frame{File: rel, SHA256: hex.EncodeToString(sum[:]), View: v, Angle: s.Views[v].Angle, Taken: st.now(),
		Sharpness: m.Sharpness, Clipped: m.Clipped, Presence: m.Presence, Signature: m.Signature.String()}
	s.Frames = append(s.Frames, f)
	if err := st.saveLocked(s); err != nil {
		s.Frames = s.Frames[:len(s.Frames)-1]
		os.Remove(p) // not listed, so not kept: it also frees the space
		return Frame{}, err
	}
	return f, nil
}

// Finish sets the session's state and reason and writes its contact sheet,
// archive and manifest. A sheet or archive that cannot be written does not
// keep the manifest from being written; the errors are joined.
func (st *Store) Finish(s *Session, state State, reason string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.State, s.Reason = state, reason
	return st.publishLocked(s)
}

func (st *Store) publishLocked(s *Session) error {
	var errs []error
	if len(s.Frames) > 0 {
		sheet, err := st.contactSheet(s)
		if err == nil {
			err = st.write(filepath.Join(st.dir(s.ID), SheetName), sheet)
		}
		errs = append(errs, err)
	} else {
		os.Remove(filepath.Join(st.dir(s.ID), SheetName))
	}
	errs = append(errs, st.saveLocked(s))
	if len(s.Frames) > 0 {
		errs = append(errs, st.archive(s))
	}
	return errors.Join(errs...)
}

// ArchiveName is the archive file of session id, inside its folder.
func ArchiveName(id string) string { return id + ".tar" }

// archive writes a tar of the manifest, the contact sheet and the frames
// (with their dataset paths), so a session can be moved as one file.
func (st *Store) archive(s *Session) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, file string) error {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: s.Updated}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	}
	files := [][2]string{{ManifestName, filepath.Join(st.dir(s.ID), ManifestName)}}
	if _, err := os.Stat(filepath.Join(st.dir(s.ID), SheetName)); err == nil {
		files = append(files, [2]string{SheetName, filepath.Join(st.dir(s.ID), SheetName)})
	}
	for _, f := range s.Frames {
		files = append(files, [2]string{f.File, filepath.Join(st.Root, filepath.FromSlash(f.File))})
	}
	for _, f := range files {
		if err := add(f[0], f[1]); err != nil {
			return fmt.Errorf("capture: archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := st.write(filepath.Join(st.dir(s.ID), ArchiveName(s.ID)), buf.Bytes()); err != nil {
		return fmt.Errorf("capture: archive: %w", err)
	}
	return nil
}

// contactSheet draws the session's frames as labelled thumbnails, six to a
// row, as PNG.
func (st *Store) contactSheet(s *Session) ([]byte, error) {
	const tw, th, label, gap, perRow = 160, 120, 16, 4, 6
	rows := (len(s.Frames) + perRow - 1) / perRow
	head := 20
	sheet := image.NewRGBA(image.Rect(0, 0, perRow*(tw+gap)+gap, head+rows*(th+label+gap)+gap))
	draw.Draw(sheet, sheet.Rect, image.NewUniform(color.White), image.Point{}, draw.Src)
	text := func(x, y int, s string) {
		d := font.Drawer{Dst: sheet, Src: image.NewUniform(color.RGBA{20, 20, 20, 255}), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	text(gap, 14, fmt.Sprintf("%s  %s  %s  %d frames  %s", s.ID, s.Target.Folder(), s.Mode, len(s.Frames), s.State))
	for i, f := range s.Frames {
		x := gap + (i%perRow)*(tw+gap)
		y := head + (i/perRow)*(th+label+gap)
		text(x, y+12, fmt.Sprintf("v%02d %g deg", f.View, f.Angle)) // basicfont has no °
		fh, err := os.Open(filepath.Join(st.Root, filepath.FromSlash(f.File)))
		if err != nil {
			continue // a frame moved away meanwhile: its cell stays empty
		}
		img, err := jpeg.Decode(fh)
		fh.Close()
		if err != nil {
			continue
		}
		draw.ApproxBiLinear.Scale(sheet, image.Rect(x, y+label, x+tw, y+label+th), img, img.Bounds(), draw.Src, nil)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, sheet); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Load reads a session's manifest. A session that says it is running is
// reported as incomplete unless live says it runs in this process: its
// writer was stopped without finishing (a crash, a kill). It returns an
// error wrapping ErrNotFound for an unknown id.
func (st *Store) Load(id string, live func(id string) bool) (*Session, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	b, err := os.ReadFile(filepath.Join(st.dir(id), ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	var s Session
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("capture: manifest of %s: %w", id, err)
	}
	if s.State == Running && (live == nil || !live(id)) {
		s.State, s.Reason = Incomplete, "interrupted: the capture stopped without finishing"
	}
	return &s, nil
}

// List returns the dataset's sessions, newest first (see Load for live).
func (st *Store) List(live func(id string) bool) ([]*Session, error) {
	entries, err := os.ReadDir(filepath.Join(st.Root, SessionsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	var out []*Session
	for _, e := range entries {
		if !e.IsDir() || !ValidID(e.Name()) {
			continue
		}
		s, err := st.Load(e.Name(), live)
		if err != nil {
			continue // a folder without a readable manifest is not a session
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// SheetPath is the contact sheet of session id.
func (st *Store) SheetPath(id string) string { return filepath.Join(st.dir(id), SheetName) }

// Drop deletes one frame of a finished session (file is Frame.File) and
// rewrites its manifest, sheet and archive. It returns an error wrapping
// ErrNotFound for an unknown session or frame.
func (st *Store) Drop(s *Session, file string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := frameIndex(s, file)
	if i < 0 {
		return fmt.Errorf("%w: frame %q of %s", ErrNotFound, file, s.ID)
	}
	if err := os.Remove(filepath.Join(st.Root, filepath.FromSlash(file))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("capture: %w", err)
	}
	s.Frames = append(s.Frames[:i], s.Frames[i+1:]...)
	return st.publishLocked(s)
}

// Move moves one frame of a session to another class (or part) folder and
// rewrites the manifest, sheet and archive; the frame keeps its name, so it
// stays grouped with its session. It returns ErrNotFound (wrapped) for an
// unknown frame and ErrInvalid for a bad folder name.
func (st *Store) Move(s *Session, file, folder string) error {
	if err := (Target{Class: folder}).Validate(); err != nil {
		return err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	i := frameIndex(s, file)
	if i < 0 {
		return fmt.Errorf("%w: frame %q of %s", ErrNotFound, file, s.ID)
	}
	rel := path.Join(folder, path.Base(file))
	if rel == file {
		return nil
	}
	if err := os.MkdirAll(filepath.Join(st.Root, folder), 0o755); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	if err := os.Rename(filepath.Join(st.Root, filepath.FromSlash(file)), filepath.Join(st.Root, filepath.FromSlash(rel))); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	s.Frames[i].File = rel
	return st.publishLocked(s)
}

func frameIndex(s *Session, file string) int {
	for i, f := range s.Frames {
		if f.File == file && !strings.Contains(file, "..") {
			return i
		}
	}
	return -1
}
