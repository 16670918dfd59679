package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
)

// The statistics counters (see inspector/shiftstats): bucketStats maps a
// shiftstats.Key (slot first, so a time range is one seek) to a count,
// 8 bytes big endian. They change in the transaction that adds, reviews
// or prunes a verdict, so they always equal a scan of the verdicts.
// bucketMeta's statsVersion says the counters are complete; a store
// written before they existed lacks it and is counted once on Open.
var (
	bucketStats  = []byte("stats")
	bucketMeta   = []byte("meta")
	statsVersion = []byte("stats_version")
)

// currentStatsVersion changes when shiftstats.Key's encoding does; a store
// with another version is recounted.
const currentStatsVersion = "1"

// Option configures Open.
type Option func(*Store)

// WithLogger sets where Open reports a counter rebuild (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// bump adds delta to the counter of v's current state.
func bump(tx *bbolt.Tx, v *inspector.Verdict, delta int64) error {
	k, err := shiftstats.KeyOf(v).MarshalBinary()
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketStats)
	var n int64
	if old := b.Get(k); len(old) == 8 {
		n = int64(binary.BigEndian.Uint64(old))
	}
	n += delta
	if n == 0 {
		return b.Delete(k)
	}
	val := make([]byte, 8)
	binary.BigEndian.PutUint64(val, uint64(n))
	return b.Put(k, val)
}

// ensureStats counts every verdict into fresh counters unless the store's
// counters are complete and current. One transaction: a crash midway leaves
// the store as it was, and the next Open starts again.
func (s *Store) ensureStats() error {
	var done bool
	if err := s.db.View(func(tx *bbolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		done = m != nil && string(m.Get(statsVersion)) == currentStatsVersion && tx.Bucket(bucketStats) != nil
		return nil
	}); err != nil || done {
		return err
	}
	start := time.Now()
	return s.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketStats) != nil {
			if err := tx.DeleteBucket(bucketStats); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket(bucketStats); err != nil {
			return err
		}
		vb := tx.Bucket(bucketVerdicts)
		total := vb.Stats().KeyN
		if total > 0 {
			s.log.Info("counting verdicts for the statistics (once)", "store", s.path, "verdicts", total)
		}
		// Counted in memory, written once: a million bumps through bbolt
		// would each copy a page.
		tally := shiftstats.Tally{}
		n := 0
		c := vb.Cursor()
		for k, data := c.First(); k != nil; k, data = c.Next() {
			var v inspector.Verdict
			if err := json.Unmarshal(data, &v); err != nil {
				return fmt.Errorf("verdict %d: %w", binary.BigEndian.Uint64(k), err)
			}
			tally.Add(&v, 1)
			n++
			if n%100000 == 0 {
				s.log.Info("counting verdicts", "done", n, "of", total)
			}
		}
		sb := tx.Bucket(bucketStats)
		for key, cnt := range tally {
			kb, err := key.MarshalBinary()
			if err != nil {
				return err
			}
			val := make([]byte, 8)
			binary.BigEndian.PutUint64(val, uint64(cnt))
			if err := sb.Put(kb, val); err != nil {
				return err
			}
		}
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if total > 0 {
			s.log.Info("statistics counters ready", "verdicts", n, "counters", len(tally), "took", time.Since(start).Round(time.Millisecond))
		}
		return m.Put(statsVersion, []byte(currentStatsVersion))
	})
}

// StatCounts returns the statistics counters of the quarter hours that
// start in [from, to).
func (s *Store) StatCounts(ctx context.Context, from, to time.Time) (shiftstats.Counts, error) {
	var out shiftstats.Counts
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketStats).Cursor()
		hi := shiftstats.SlotOf(to)
		if shiftstats.SlotOf(to) != to.Unix() {
			hi += int64(shiftstats.Slot / time.Second)
		}
		for k, v := c.Seek(shiftstats.SlotKeyPrefix(from)); k != nil; k, v = c.Next() {
			var key shiftstats.Key
			if err := key.UnmarshalBinary(k); err != nil {
				return err
			}
			if key.Slot >= hi {
				break
			}
			if len(v) != 8 {
				return fmt.Errorf("statistics counter of slot %d: %d bytes", key.Slot, len(v))
			}
			out = append(out, shiftstats.Count{Key: key, N: int64(binary.BigEndian.Uint64(v))})
		}
		return ctx.Err()
	})
	return out, err
}

// AddAll stores vs in one transaction, in their order, and sets their
// IDs; it is for filling a store at once (demo history), where one commit
// per verdict would take seconds. Ids must grow with time (List relies on
// it), so vs must be oldest first and older than anything stored after.
// nil means every verdict is on disk; on error none is.
func (s *Store) AddAll(ctx context.Context, vs []*inspector.Verdict) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, v := range vs {
			if err := put(tx, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, v := range vs {
			v.ID = 0
		}
		return fmt.Errorf("store verdicts: %w", err)
	}
	return nil
}
