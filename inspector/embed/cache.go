package embed

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Key identifies one embedding: the sha256 of the image file's content, the
// backbone's sha256, the preprocessing spec and the augmentation (seed and
// view index; view 0 is the image without augmentation). Anything that
// changes the tensor changes the key, so a cached vector is never stale.
type Key [32]byte

// KeyParts are the inputs of a Key.
type KeyParts struct {
	ImageSHA256    string              // hex, as the dataset manifest records it
	BackboneSHA256 string              // hex
	Spec           inspector.InputSpec // what the Preprocessor was given
	Augmentation   []byte              // the augmentation pipeline's canonical JSON; nil for none
	Seed           uint64              // augmentation seed of the view
	View           int                 // 0: unaugmented
	// Features names the vector's layout when it is not the bare
	// embedding (PooledFeatures for EmbedPooled's); empty for the
	// embedding, so those keys stay what they were.
	Features string
}

// PooledFeatures is the KeyParts.Features of pooled vectors (see Blocks).
// Change it whenever the pooled layout or its pooling changes.
const PooledFeatures = "pooled-v1"

// PooledS16MapFeatures is the KeyParts.Features of pooled vectors with the
// raw feat_s16 map appended (Embedder.SetS16Map).
const PooledS16MapFeatures = "pooled-v1+s16map"

// MakeKey hashes the parts into a Key.
func MakeKey(p KeyParts) Key {
	h := sha256.New()
	spec, _ := json.Marshal(p.Spec) // a struct of plain fields: cannot fail, and field order is fixed
	for _, part := range [][]byte{[]byte(p.ImageSHA256), []byte(p.BackboneSHA256), spec, p.Augmentation} {
		// Length-prefixed, so no two part lists hash alike.
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(part))))
		h.Write(part)
	}
	h.Write(binary.LittleEndian.AppendUint64(nil, p.Seed))
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(p.View)))
	if p.Features != "" {
		h.Write([]byte(p.Features))
	}
	var k Key
	copy(k[:], h.Sum(nil))
	return k
}

// Cache stores embeddings by Key. The bbolt adapter (inspector/bolt) keeps
// one file per dataset.
type Cache interface {
	// Get returns the vectors found for keys (nil where missing), copied
	// out of the store.
	Get(keys []Key) ([][]float32, error)
	// Put stores vectors durably: after a nil error they survive a crash.
	Put(keys []Key, vecs [][]float32) error
}

// CacheStats counts what a Cached call found and computed.
type CacheStats struct {
	Hits, Computed int
}

// Cached returns the embeddings of the n items with the given keys, taking
// those it finds from c and computing the rest with e (fill is called only
// for misses, with the item's index). Each computed batch is stored before
// the next one starts, so a crash loses at most one batch of work. An
// Embedder set to pooled vectors (SetPooled) computes those.
func Cached(ctx context.Context, e *Embedder, c Cache, keys []Key, fill Fill) ([][]float32, CacheStats, error) {
	var st CacheStats
	out, err := c.Get(keys)
	if err != nil {
		return nil, st, fmt.Errorf("embed cache: %w", err)
	}
	if len(out) != len(keys) {
		return nil, st, fmt.Errorf("embed cache: %d vectors for %d keys", len(out), len(keys))
	}
	var miss []int
	for i, v := range out {
		if v == nil {
			miss = append(miss, i)
		} else {
			st.Hits++
		}
	}
	for start := 0; start < len(miss); start += e.batch {
		part := miss[start:min(start+e.batch, len(miss))]
		f := func(i int, dst []float32) error { return fill(part[i], dst) }
		var vecs [][]float32
		var err error
		if e.pooled {
			vecs, err = e.EmbedPooled(ctx, len(part), f)
		} else {
			vecs, err = e.Embed(ctx, len(part), f)
		}
		if err != nil {
			return nil, st, err
		}
		ks := make([]Key, len(part))
		for i, idx := range part {
			out[idx], ks[i] = vecs[i], keys[idx]
		}
		if err := c.Put(ks, vecs); err != nil {
			return nil, st, fmt.Errorf("embed cache: %w", err)
		}
		st.Computed += len(part)
	}
	return out, st, nil
}

// MemCache is a Cache in memory, for tests and one-off runs.
type MemCache map[Key][]float32

// Get implements Cache.
func (m MemCache) Get(keys []Key) ([][]float32, error) {
	out := make([][]float32, len(keys))
	for i, k := range keys {
		if v, ok := m[k]; ok {
			out[i] = append([]float32(nil), v...)
		}
	}
	return out, nil
}

// Put implements Cache.
func (m MemCache) Put(keys []Key, vecs [][]float32) error {
	for i, k := range keys {
		m[k] = append([]float32(nil), vecs[i]...)
	}
	return nil
}
