package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The catalogue lives in its own file (catalogue.db beside the verdict
// store), not in the verdict store's buckets: it is product data that is
// copied between stations and backed up on its own schedule, and its
// imports (hundreds of photos) must not stall the station's group commit.
//
// Buckets:
//
//	cat_parts     part number → catalogue.Part (JSON)
//	cat_photos    part number 0x00 photo id → catalogue.Photo (JSON)
//	cat_photo_ix  photo id → part number (to refuse a photo twice)
//	cat_jpeg      photo id → JPEG bytes (reference and customer photos)
//	cat_vectors   vector key (backbone sha256, "+" feature version) 0x00 photo id → float32 LE vector
//	cat_matches   match id → catalogue.Match (JSON)
//	cat_match_ix  time (8 bytes BE, ns) + match id → nothing: newest-first listing
var (
	bucketCatParts   = []byte("cat_parts")
	bucketCatPhotos  = []byte("cat_photos")
	bucketCatPhotoIx = []byte("cat_photo_ix")
	bucketCatJPEG    = []byte("cat_jpeg")
	bucketCatVectors = []byte("cat_vectors")
	bucketCatMatches = []byte("cat_matches")
	bucketCatMatchIx = []byte("cat_match_ix")
)

// Catalogue is a catalogue.Store in one bbolt file. Each change is one
// transaction: a part appears with all its photos and vectors or not at all.
type Catalogue struct {
	db   *bbolt.DB
	path string
}

var _ catalogue.Store = (*Catalogue)(nil)

// OpenCatalogue opens or creates the catalogue file at path. A file locked
// by another process gives ErrInUse after a second.
func OpenCatalogue(path string) (*Catalogue, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open catalogue %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketCatParts, bucketCatPhotos, bucketCatPhotoIx, bucketCatJPEG, bucketCatVectors, bucketCatMatches, bucketCatMatchIx} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open catalogue %s: %w", path, err)
	}
	return &Catalogue{db: db, path: path}, nil
}

// Close closes the file.
func (c *Catalogue) Close() error { return c.db.Close() }

// Path is the catalogue's file.
func (c *Catalogue) Path() string { return c.path }

// Check runs bbolt's consistency check and the catalogue's own: every
// photo's part exists and its JPEG is there.
func (c *Catalogue) Check() error {
	return c.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		parts, jpegs := tx.Bucket(bucketCatParts), tx.Bucket(bucketCatJPEG)
		return tx.Bucket(bucketCatPhotos).ForEach(func(k, v []byte) error {
			var ph catalogue.Photo
			if err := json.Unmarshal(v, &ph); err != nil {
				return fmt.Errorf("photo %q: %w", k, err)
			}
			if parts.Get([]byte(ph.Part)) == nil {
				return fmt.Errorf("photo %s of missing part %s", ph.ID, ph.Part)
			}
			if jpegs.Get([]byte(ph.ID)) == nil {
				return fmt.Errorf("photo %s has no JPEG", ph.ID)
			}
			return nil
		})
	})
}

// Backup writes a consistent copy of the whole catalogue to w.
func (c *Catalogue) Backup(w io.Writer) (int64, error) {
	var n int64
	err := c.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

func photoKey(part, id string) []byte      { return []byte(part + "\x00" + id) }
func vectorKey(backbone, id string) []byte { return []byte(backbone + "\x00" + id) }

func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func decodeVector(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// AddPart implements catalogue.Store.
func (c *Catalogue) AddPart(p catalogue.Part, photos []catalogue.NewPhoto, backbone string) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return c.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketCatParts).Get([]byte(p.Number)) != nil {
			return fmt.Errorf("%w: %s", catalogue.ErrExists, p.Number)
		}
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketCatParts).Put([]byte(p.Number), b); err != nil {
			return err
		}
		return putPhotos(tx, p.Number, photos, backbone)
	})
}

// AddPhotos implements catalogue.Store.
func (c *Catalogue) AddPhotos(number string, photos []catalogue.NewPhoto, backbone string) error {
	return c.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketCatParts).Get([]byte(number)) == nil {
			return fmt.Errorf("%w: part %s", catalogue.ErrNotFound, number)
		}
		return putPhotos(tx, number, photos, backbone)
	})
}

func putPhotos(tx *bbolt.Tx, number string, photos []catalogue.NewPhoto, backbone string) error {
	ix, meta, jpegs, vecs := tx.Bucket(bucketCatPhotoIx), tx.Bucket(bucketCatPhotos), tx.Bucket(bucketCatJPEG), tx.Bucket(bucketCatVectors)
	for _, ph := range photos {
		if owner := ix.Get([]byte(ph.ID)); owner != nil {
			return fmt.Errorf("%w: a photo of part %s is the same picture", catalogue.ErrDuplicatePhoto, owner)
		}
		ph.Part = number
		b, err := json.Marshal(ph.Photo)
		if err != nil {
			return err
		}
		if err := ix.Put([]byte(ph.ID), []byte(number)); err != nil {
			return err
		}
		if err := meta.Put(photoKey(number, ph.ID), b); err != nil {
			return err
		}
		if err := jpegs.Put([]byte(ph.ID), ph.JPEG); err != nil {
			return err
		}
		if ph.Vector != nil {
			if err := vecs.Put(vectorKey(backbone, ph.ID), encodeVector(ph.Vector)); err != nil {
				return err
			}
		}
	}
	return nil
}

// RemovePart implements catalogue.Store: the part, its photos, their JPEGs
// and vectors of every backbone go in one transaction.
func (c *Catalogue) RemovePart(number string) error {
	return c.db.Update(func(tx *bbolt.Tx) error {
		parts := tx.Bucket(bucketCatParts)
		if parts.Get([]byte(number)) == nil {
			return fmt.Errorf("%w: part %s", catalogue.ErrNotFound, number)
		}
		var ids []string
		prefix := []byte(number + "\x00")
		cur := tx.Bucket(bucketCatPhotos).Cursor()
		for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
			ids = append(ids, string(k[len(prefix):]))
		}
		for _, id := range ids {
			tx.Bucket(bucketCatPhotos).Delete(photoKey(number, id))
			tx.Bucket(bucketCatPhotoIx).Delete([]byte(id))
			tx.Bucket(bucketCatJPEG).Delete([]byte(id))
		}
		vb := tx.Bucket(bucketCatVectors)
		var dead [][]byte
		vb.ForEach(func(k, _ []byte) error {
			if i := bytes.IndexByte(k, 0); i >= 0 {
				for _, id := range ids {
					if string(k[i+1:]) == id {
						dead = append(dead, append([]byte(nil), k...))
					}
				}
			}
			return nil
		})
		for _, k := range dead {
			if err := vb.Delete(k); err != nil {
				return err
			}
		}
		return parts.Delete([]byte(number))
	})
}

// Part implements catalogue.Store.
func (c *Catalogue) Part(number string) (catalogue.Part, []catalogue.Photo, error) {
	var p catalogue.Part
	var photos []catalogue.Photo
	err := c.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCatParts).Get([]byte(number))
		if b == nil {
			return fmt.Errorf("%w: part %s", catalogue.ErrNotFound, number)
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return err
		}
		prefix := []byte(number + "\x00")
		cur := tx.Bucket(bucketCatPhotos).Cursor()
		for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			var ph catalogue.Photo
			if err := json.Unmarshal(v, &ph); err != nil {
				return err
			}
			photos = append(photos, ph)
		}
		return nil
	})
	return p, photos, err
}

// Parts implements catalogue.Store.
func (c *Catalogue) Parts() ([]catalogue.Part, error) {
	var out []catalogue.Part
	err := c.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketCatParts).ForEach(func(_, v []byte) error {
			var p catalogue.Part
			if err := json.Unmarshal(v, &p); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}

// PhotoJPEG implements catalogue.Store.
func (c *Catalogue) PhotoJPEG(id string) ([]byte, error) {
	var out []byte
	err := c.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCatJPEG).Get([]byte(id))
		if b == nil {
			return fmt.Errorf("%w: photo %s", catalogue.ErrNotFound, id)
		}
		out = append([]byte(nil), b...)
		return nil
	})
	return out, err
}

// Vectors implements catalogue.Store.
func (c *Catalogue) Vectors(backbone string, fn func(catalogue.Photo, []float32) error) error {
	return c.db.View(func(tx *bbolt.Tx) error {
		vecs := tx.Bucket(bucketCatVectors)
		return tx.Bucket(bucketCatPhotos).ForEach(func(_, v []byte) error {
			var ph catalogue.Photo
			if err := json.Unmarshal(v, &ph); err != nil {
				return err
			}
			var vec []float32
			if b := vecs.Get(vectorKey(backbone, ph.ID)); len(b) > 0 && len(b)%4 == 0 {
				vec = decodeVector(b)
			}
			return fn(ph, vec)
		})
	})
}

// PutVectors implements catalogue.Store.
func (c *Catalogue) PutVectors(backbone string, ids []string, vecs [][]float32) error {
	if len(ids) != len(vecs) {
		return fmt.Errorf("catalogue: %d ids for %d vectors", len(ids), len(vecs))
	}
	return c.db.Update(func(tx *bbolt.Tx) error {
		for i, id := range ids {
			if err := tx.Bucket(bucketCatVectors).Put(vectorKey(backbone, id), encodeVector(vecs[i])); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutQuery implements catalogue.Store.
func (c *Catalogue) PutQuery(id string, jpeg []byte) error {
	return c.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCatJPEG)
		if b.Get([]byte(id)) != nil {
			return nil
		}
		return b.Put([]byte(id), jpeg)
	})
}

func matchIxKey(m catalogue.Match) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(m.At.UnixNano()))
	return append(k, m.ID...)
}

// AddMatch implements catalogue.Store.
func (c *Catalogue) AddMatch(m catalogue.Match) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketCatMatches).Put([]byte(m.ID), b); err != nil {
			return err
		}
		return tx.Bucket(bucketCatMatchIx).Put(matchIxKey(m), nil)
	})
}

// UpdateMatch implements catalogue.Store; the listing keeps the match's
// first time.
func (c *Catalogue) UpdateMatch(m catalogue.Match) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return c.db.Update(func(tx *bbolt.Tx) error {
		mb := tx.Bucket(bucketCatMatches)
		if mb.Get([]byte(m.ID)) == nil {
			return fmt.Errorf("%w: match %s", catalogue.ErrNotFound, m.ID)
		}
		return mb.Put([]byte(m.ID), b)
	})
}

// Match implements catalogue.Store.
func (c *Catalogue) Match(id string) (catalogue.Match, error) {
	var m catalogue.Match
	err := c.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCatMatches).Get([]byte(id))
		if b == nil {
			return fmt.Errorf("%w: match %s", catalogue.ErrNotFound, id)
		}
		return json.Unmarshal(b, &m)
	})
	return m, err
}

// Matches implements catalogue.Store.
func (c *Catalogue) Matches(limit int) ([]catalogue.Match, error) {
	var out []catalogue.Match
	err := c.db.View(func(tx *bbolt.Tx) error {
		mb := tx.Bucket(bucketCatMatches)
		cur := tx.Bucket(bucketCatMatchIx).Cursor()
		for k, _ := cur.Last(); k != nil && (limit <= 0 || len(out) < limit); k, _ = cur.Prev() {
			var m catalogue.Match
			if b := mb.Get(k[8:]); b != nil && json.Unmarshal(b, &m) == nil {
				out = append(out, m)
			}
		}
		return nil
	})
	return out, err
}
