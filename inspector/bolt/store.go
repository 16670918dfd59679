// Package bolt stores verdicts in a bbolt file. Each verdict is one JSON
// record keyed by its id (8 bytes, big endian, so the newest is last); its
// frame and thumbnail live in their own buckets under the same key, so
// listings never read images. A verdict is acknowledged only after its
// transaction is committed to disk.
//
// Concurrent Adds share commits: one goroutine commits whatever verdicts
// are waiting in one transaction, and the verdicts that arrive meanwhile
// go into the next. A lone writer thus waits for one commit and no timer,
// and many writers share one commit (bbolt's two fsyncs) per batch, the
// batch growing as commits slow down.
package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/pruefplatz/pruefplatz/internal/verdictcsv"

	"github.com/pruefplatz/pruefplatz/inspector"
	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bucket names.
var (
	bucketVerdicts = []byte("verdicts")
	bucketImages   = []byte("images")
	bucketThumbs   = []byte("thumbs")
)

// ErrInUse is returned by Open when another process holds the store.
var ErrInUse = errors.New("verdict store is in use by another process")

// maxBatch bounds the verdicts in one commit, so one transaction's dirty
// pages stay small.
const maxBatch = 256

// Store is a bbolt verdict store. It implements inspector.VerdictStore.
type Store struct {
	db   *bbolt.DB
	path string
	log  *slog.Logger

	// adds feeds the committer; closeMu guards sending against Close.
	closeMu sync.RWMutex
	closed  bool
	adds    chan addRequest
	wg      sync.WaitGroup
}

// addRequest is one Add waiting for its commit.
type addRequest struct {
	v    *inspector.Verdict
	done chan error
}

var _ inspector.VerdictStore = (*Store)(nil)

// Open opens or creates the store at path. A store locked by another
// process gives ErrInUse after a second. A store written before the
// statistics counters existed is counted once here (see stats.go), which
// takes seconds for a million verdicts and is logged.
func Open(path string, opts ...Option) (*Store, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrInUse, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open verdict store %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketVerdicts, bucketImages, bucketThumbs, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open verdict store %s: %w", path, err)
	}
	s := &Store{db: db, path: path, log: slog.Default(), adds: make(chan addRequest, maxBatch)}
	for _, o := range opts {
		o(s)
	}
	if err := s.ensureStats(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open verdict store %s: statistics counters: %w", path, err)
	}
	s.wg.Add(1)
	go s.commitLoop()
	return s, nil
}

// Close waits for the verdicts already handed to Add to be committed and
// closes the file.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if !s.closed {
		s.closed = true
		close(s.adds)
	}
	s.closeMu.Unlock()
	s.wg.Wait()
	return s.db.Close()
}

func key(id uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, id)
	return k
}

// Add stores v and sets v.ID. It returns after the transaction holding v
// is committed to disk, which it shares with the verdicts other goroutines
// add meanwhile. ctx is checked before v is queued; once queued, Add waits
// for the commit whatever ctx does, so nil always means v is on disk and an
// error that it is not. After Close the error wraps
// go.etcd.io/bbolt/errors.ErrDatabaseNotOpen.
func (s *Store) Add(ctx context.Context, v *inspector.Verdict) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return fmt.Errorf("store verdict: %w", berrors.ErrDatabaseNotOpen)
	}
	s.adds <- addRequest{v: v, done: done}
	s.closeMu.RUnlock()
	if err := <-done; err != nil {
		return fmt.Errorf("store verdict: %w", err)
	}
	return nil
}

// commitLoop commits queued verdicts until Close, taking every verdict
// that is waiting (up to maxBatch) into one transaction.
func (s *Store) commitLoop() {
	defer s.wg.Done()
	batch := make([]addRequest, 0, maxBatch)
	for r := range s.adds {
		batch = append(batch[:0], r)
	more:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.adds:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

// commit stores batch in one transaction. If that fails, each verdict is
// tried in a transaction of its own, so one bad verdict fails alone.
func (s *Store) commit(batch []addRequest) {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, r := range batch {
			if err := put(tx, r.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	for _, r := range batch {
		r.done <- s.db.Update(func(tx *bbolt.Tx) error { return put(tx, r.v) })
	}
}

// put writes v under the next id and sets v.ID.
func put(tx *bbolt.Tx, v *inspector.Verdict) error {
	b := tx.Bucket(bucketVerdicts)
	id, err := b.NextSequence()
	if err != nil {
		return err
	}
	v.ID = id
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	k := key(id)
	if err := b.Put(k, data); err != nil {
		return err
	}
	if err := bump(tx, v, 1); err != nil {
		return err
	}
	if len(v.Image) > 0 {
		if err := tx.Bucket(bucketImages).Put(k, v.Image); err != nil {
			return err
		}
	}
	if len(v.Thumb) > 0 {
		return tx.Bucket(bucketThumbs).Put(k, v.Thumb)
	}
	return nil
}

// Get returns the verdict with its image and thumbnail; inspector.ErrNotFound if absent.
func (s *Store) Get(ctx context.Context, id uint64) (*inspector.Verdict, error) {
	var v inspector.Verdict
	err := s.db.View(func(tx *bbolt.Tx) error {
		k := key(id)
		data := tx.Bucket(bucketVerdicts).Get(k)
		if data == nil {
			return fmt.Errorf("verdict %d: %w", id, inspector.ErrNotFound)
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		// Bytes from bbolt are valid only inside the transaction.
		v.Image = append([]byte(nil), tx.Bucket(bucketImages).Get(k)...)
		v.Thumb = append([]byte(nil), tx.Bucket(bucketThumbs).Get(k)...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Image returns just the stored frame (JPEG); thumb selects the thumbnail.
func (s *Store) Image(id uint64, thumb bool) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := bucketImages
		if thumb {
			b = bucketThumbs
		}
		data := tx.Bucket(b).Get(key(id))
		if data == nil {
			return fmt.Errorf("image of verdict %d: %w", id, inspector.ErrNotFound)
		}
		out = append([]byte(nil), data...)
		return nil
	})
	return out, err
}

func matches(v *inspector.Verdict, q inspector.VerdictQuery) bool {
	if !q.From.IsZero() && v.Time.Before(q.From) {
		return false
	}
	if !q.To.IsZero() && !v.Time.Before(q.To) {
		return false
	}
	out, label := v.Effective()
	if q.Outcome != "" && out != q.Outcome && v.Outcome != q.Outcome {
		return false
	}
	if q.Label != "" && label != q.Label && v.Label != q.Label {
		return false
	}
	return true
}

// walk calls fn for matching verdicts, newest first, until fn returns false.
func (s *Store) walk(ctx context.Context, q inspector.VerdictQuery, fn func(v *inspector.Verdict) bool) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketVerdicts).Cursor()
		var k, data []byte
		if q.Before > 0 {
			c.Seek(key(q.Before))
			k, data = c.Prev()
		} else {
			k, data = c.Last()
		}
		n := 0
		for ; k != nil; k, data = c.Prev() {
			if n%1024 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			n++
			var v inspector.Verdict
			if err := json.Unmarshal(data, &v); err != nil {
				return fmt.Errorf("verdict %d: %w", binary.BigEndian.Uint64(k), err)
			}
			// Ids grow with time: older than From means all the rest are too.
			if !q.From.IsZero() && v.Time.Before(q.From.Add(-time.Minute)) {
				return nil
			}
			if matches(&v, q) && !fn(&v) {
				return nil
			}
		}
		return nil
	})
}

// List returns matching verdicts newest first, without images. Limit
// defaults to 100 and is capped at 10,000.
func (s *Store) List(ctx context.Context, q inspector.VerdictQuery) ([]inspector.Verdict, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 10000)
	var out []inspector.Verdict
	err := s.walk(ctx, q, func(v *inspector.Verdict) bool {
		out = append(out, *v)
		return len(out) < q.Limit
	})
	return out, err
}

// SetReview records a human's review as the effective one; earlier reviews
// stay in the record's history, in order (see inspector.Verdict.AddReview).
// inspector.ErrNotFound if the verdict is absent.
func (s *Store) SetReview(ctx context.Context, id uint64, r inspector.Review) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketVerdicts)
		k := key(id)
		data := b.Get(k)
		if data == nil {
			return fmt.Errorf("verdict %d: %w", id, inspector.ErrNotFound)
		}
		var v inspector.Verdict
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		if err := bump(tx, &v, -1); err != nil {
			return err
		}
		v.AddReview(r)
		if err := bump(tx, &v, 1); err != nil {
			return err
		}
		out, err := json.Marshal(&v)
		if err != nil {
			return err
		}
		return b.Put(k, out)
	})
}

// Counts returns verdicts since from by effective outcome (the review's if any).
func (s *Store) Counts(ctx context.Context, from time.Time) (map[inspector.Outcome]int, error) {
	counts := map[inspector.Outcome]int{}
	err := s.walk(ctx, inspector.VerdictQuery{From: from}, func(v *inspector.Verdict) bool {
		o, _ := v.Effective()
		counts[o]++
		return true
	})
	return counts, err
}

// Stats returns the number of verdicts, the file's size on disk (what a
// backup of the file or the disk it fills will see; bbolt grows the file
// ahead of its data) and the time range.
func (s *Store) Stats() (inspector.StoreStats, error) {
	var st inspector.StoreStats
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketVerdicts)
		st.Count = b.Stats().KeyN
		st.SizeBytes = tx.Size()
		if fi, err := os.Stat(s.path); err == nil {
			st.SizeBytes = fi.Size()
		}
		c := b.Cursor()
		if _, d := c.First(); d != nil {
			var v inspector.Verdict
			if json.Unmarshal(d, &v) == nil {
				st.Oldest = v.Time
			}
		}
		if _, d := c.Last(); d != nil {
			var v inspector.Verdict
			if json.Unmarshal(d, &v) == nil {
				st.Newest = v.Time
			}
		}
		return nil
	})
	return st, err
}

// Prune deletes the oldest verdicts beyond maxCount and those older than
// maxAge (zero disables either), in transactions of at most 1000 so writers
// are never blocked for long. It returns how many were deleted.
func (s *Store) Prune(ctx context.Context, maxCount int, maxAge time.Duration, now time.Time) (int, error) {
	deleted := 0
	for {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		n := 0
		err := s.db.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket(bucketVerdicts)
			total := b.Stats().KeyN
			c := b.Cursor()
			for k, data := c.First(); k != nil && n < 1000; k, data = c.Next() {
				tooMany := maxCount > 0 && total-n > maxCount
				// A record that does not decode cannot be aged, and
				// its counter cannot be found: Prune stops there
				// rather than let the statistics drift.
				var v inspector.Verdict
				if err := json.Unmarshal(data, &v); err != nil {
					return fmt.Errorf("prune verdict %d: %w", binary.BigEndian.Uint64(k), err)
				}
				tooOld := maxAge > 0 && now.Sub(v.Time) > maxAge
				if !tooMany && !tooOld {
					break
				}
				if err := bump(tx, &v, -1); err != nil {
					return err
				}
				kk := append([]byte(nil), k...)
				if err := c.Delete(); err != nil {
					return err
				}
				tx.Bucket(bucketImages).Delete(kk)
				tx.Bucket(bucketThumbs).Delete(kk)
				n++
			}
			return nil
		})
		deleted += n
		if err != nil || n < 1000 {
			return deleted, err
		}
	}
}

// Export streams matching verdicts, newest first, as "csv" or "json" (a JSON
// array written element by element), never holding them all in memory.
func (s *Store) Export(ctx context.Context, w io.Writer, format string, q inspector.VerdictQuery) error {
	switch format {
	case "csv":
		cw, err := verdictcsv.NewWriter(w)
		if err != nil {
			return err
		}
		var werr error
		err = s.walk(ctx, q, func(v *inspector.Verdict) bool {
			werr = cw.Write(v)
			return werr == nil
		})
		if ferr := cw.Flush(); werr == nil {
			werr = ferr
		}
		if err == nil {
			err = werr
		}
		return err
	case "json":
		if _, err := io.WriteString(w, "[\n"); err != nil {
			return err
		}
		first := true
		var werr error
		err := s.walk(ctx, q, func(v *inspector.Verdict) bool {
			b, err := json.Marshal(v)
			if err != nil {
				werr = err
				return false
			}
			if !first {
				if _, werr = io.WriteString(w, ",\n"); werr != nil {
					return false
				}
			}
			first = false
			_, werr = w.Write(b)
			return werr == nil
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			return err
		}
		_, err = io.WriteString(w, "\n]\n")
		return err
	}
	return fmt.Errorf("export format %q (want csv or json)", format)
}

// Backup writes a consistent copy of the whole store to w while it keeps
// serving (one read transaction).
func (s *Store) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Check runs bbolt's consistency check; it returns the first problem found.
func (s *Store) Check() error {
	return s.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	})
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }
