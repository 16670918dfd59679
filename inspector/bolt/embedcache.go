package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"

	"github.com/pruefplatz/pruefplatz/inspector/embed"
	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// bucketEmbeddings holds an embedding cache's vectors: key = embed.Key (32
// bytes), value = the float32 vector, little endian.
var bucketEmbeddings = []byte("embeddings")

// EmbedCache is an embedding cache in one bbolt file (one per dataset).
// Every Put is one committed transaction, so a crash halfway through a
// training run keeps every batch stored before it, and the file stays
// consistent (bbolt's copy-on-write pages).
type EmbedCache struct {
	db *bbolt.DB
}

var _ embed.Cache = (*EmbedCache)(nil)

// OpenEmbedCache opens or creates the cache file at path. A cache locked by
// another process gives ErrInUse after a second.
func OpenEmbedCache(path string) (*EmbedCache, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open embedding cache %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketEmbeddings)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open embedding cache %s: %w", path, err)
	}
	return &EmbedCache{db: db}, nil
}

// Get implements embed.Cache. A value of the wrong length (not a multiple
// of four bytes) counts as missing, so it is recomputed and overwritten.
func (c *EmbedCache) Get(keys []embed.Key) ([][]float32, error) {
	out := make([][]float32, len(keys))
	err := c.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEmbeddings)
		for i, k := range keys {
			v := b.Get(k[:])
			if len(v) == 0 || len(v)%4 != 0 {
				continue
			}
			// Decoding copies the bytes out: they are valid only inside the transaction.
			out[i] = decodeFloats(v)
		}
		return nil
	})
	return out, err
}

// Put implements embed.Cache: all vectors in one committed transaction.
func (c *EmbedCache) Put(keys []embed.Key, vecs [][]float32) error {
	if len(keys) != len(vecs) {
		return fmt.Errorf("embedding cache: %d keys for %d vectors", len(keys), len(vecs))
	}
	return c.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEmbeddings)
		for i, k := range keys {
			if err := b.Put(k[:], encodeFloats(vecs[i])); err != nil {
				return err
			}
		}
		return nil
	})
}

// Len returns the number of cached vectors.
func (c *EmbedCache) Len() (int, error) {
	n := 0
	err := c.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketEmbeddings).Stats().KeyN
		return nil
	})
	return n, err
}

// Check runs bbolt's consistency check.
func (c *EmbedCache) Check() error {
	return c.db.View(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
}

// Close closes the file.
func (c *EmbedCache) Close() error { return c.db.Close() }

// hostLittleEndian says whether float32 slices are laid out in memory as
// the cache stores them, so whole vectors move with one copy: a training
// re-run reads hundreds of megabytes of vectors, and decoding them value by
// value was most of its read time (the magnetic-tile re-run,
// docs/training.md).
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// decodeFloats copies a little-endian float32 vector out of b.
func decodeFloats(b []byte) []float32 {
	vec := make([]float32, len(b)/4)
	if hostLittleEndian && len(vec) > 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&vec[0])), len(b)), b)
		return vec
	}
	for j := range vec {
		vec[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
	}
	return vec
}

// encodeFloats returns vec's little-endian bytes.
func encodeFloats(vec []float32) []byte {
	b := make([]byte, 4*len(vec))
	if hostLittleEndian && len(vec) > 0 {
		copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&vec[0])), len(b)))
		return b
	}
	for j, x := range vec {
		binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(x))
	}
	return b
}
