// Package atomicfile writes files so that a reader, a crash or a full disk
// never leaves a partial file behind: the data goes to a temporary file in
// the same folder, which is synced, given its permissions and renamed over
// the target; then the folder is synced so the rename itself is durable.
// Every writer of the project's small files (manifests, stamps, active.json,
// augmented images, demo data) goes through here.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// TempFile is the part of *os.File the writer uses.
type TempFile interface {
	io.Writer
	Name() string
	Sync() error
	Close() error
}

// CreateFunc makes the temporary file (os.CreateTemp's signature). Tests
// pass one that fails, to prove nothing is published on failure.
type CreateFunc func(dir, pattern string) (TempFile, error)

// OSCreate is os.CreateTemp as a CreateFunc.
func OSCreate(dir, pattern string) (TempFile, error) { return os.CreateTemp(dir, pattern) }

// Write writes data to path with permissions perm, atomically and durably.
// The folder must exist. On error path is unchanged and no temporary file
// is left; the error names path.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteWith(OSCreate, path, data, perm)
}

// WriteWith is Write with the temporary file made by create.
func WriteWith(create CreateFunc, path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := create(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("write %s: %w", path, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	// CreateTemp makes 0600 files.
	if err = os.Chmod(f.Name(), perm); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir flushes a folder's entries (a rename, a new file) to disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
