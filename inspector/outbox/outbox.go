// Package outbox is the durable, bounded, first-in-first-out queue that
// every outbound integration (MQTT, webhooks) sends through, so that one
// delivery rule lives in one place: a message is on disk before Put returns,
// it is handed to the receiver in the order it was put, and it leaves the
// queue only after the receiver took it. A receiver that is down, slow or
// failing holds up only its own queue, never the station.
//
// # On-disk layout
//
// One bbolt file holds one bucket per queue (named by the caller, e.g.
// "mqtt" or "webhook/mes"). Keys are 8-byte big-endian sequence numbers from
// the bucket's NextSequence, so a cursor walks them in put order; values are
// the caller's bytes, unchanged. Delivery is at least once: a message whose
// delivery was interrupted (a crash, a lost connection before the
// acknowledgement) is sent again, so receivers dedupe by the id the payload
// carries.
package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrFull is returned by Put when the queue already holds its maximum
// number of messages; the message is not queued.
var ErrFull = errors.New("outbox: queue full")

// ErrClosed is returned by Put and Run once the outbox is closed.
var ErrClosed = errors.New("outbox: closed")

// DefaultMax is the queue bound when Options.Max is 0: about a week of
// verdicts at one part every five seconds.
const DefaultMax = 100_000

// DB is an open outbox file holding any number of named queues.
type DB struct {
	db     *bolt.DB
	mu     sync.Mutex
	queues map[string]*Queue
	closed atomic.Bool
	putMu  sync.Mutex // serialises Put so that the bounds hold
}

// Open opens (creating if needed) the outbox file at path.
func Open(path string) (*DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", path, err)
	}
	return &DB{db: db, queues: map[string]*Queue{}}, nil
}

// Close closes the file. Queues' Run loops must have returned first.
func (d *DB) Close() error {
	d.closed.Store(true)
	return d.db.Close()
}

// Queue returns the queue name, creating its bucket if needed. Asking twice
// for one name returns the same Queue. max bounds its length (0: DefaultMax).
func (d *DB) Queue(name string, max int) (*Queue, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if q, ok := d.queues[name]; ok {
		return q, nil
	}
	if max <= 0 {
		max = DefaultMax
	}
	q := &Queue{d: d, name: []byte(name), max: max, wake: make(chan struct{}, 1)}
	err := d.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(q.name)
		if err != nil {
			return err
		}
		q.depth.Store(int64(b.Stats().KeyN))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox queue %q: %w", name, err)
	}
	d.queues[name] = q
	return q, nil
}

// Queue is one named FIFO queue in an outbox file. Put may be called from
// any goroutine; exactly one Run loop should drain it.
type Queue struct {
	d     *DB
	name  []byte
	max   int
	depth atomic.Int64
	full  atomic.Uint64
	wake  chan struct{}
}

// Message is one queued message.
type Message struct {
	// Seq is its position; later messages have larger ones.
	Seq  uint64
	Data []byte
}

// Name is the queue's name.
func (q *Queue) Name() string { return string(q.name) }

// Len is the number of messages waiting.
func (q *Queue) Len() int { return int(q.depth.Load()) }

// Rejected counts the messages Put refused with ErrFull.
func (q *Queue) Rejected() uint64 { return q.full.Load() }

// Put appends data. A nil error means the message is on disk (fsynced);
// it returns ErrFull when the queue holds its maximum, ErrClosed after
// Close, and the file's error otherwise.
func (q *Queue) Put(data []byte) error {
	return q.d.Put(Item{Queue: q, Data: data})
}

// Item is one message for one queue, for DB.Put.
type Item struct {
	Queue *Queue
	Data  []byte
}

// Put appends each item to its queue in one transaction, so a message for
// several receivers costs one fsync. A full queue refuses its item (counted
// in Rejected) and the others are still written; the error then wraps
// ErrFull. A nil error means every item is on disk. It returns ErrClosed
// after Close, and the file's error otherwise (then nothing was written).
func (d *DB) Put(items ...Item) error {
	if d.closed.Load() {
		return ErrClosed
	}
	d.putMu.Lock()
	defer d.putMu.Unlock()
	var full []string
	take := items[:0:0]
	for _, it := range items {
		if it.Queue.depth.Load() >= int64(it.Queue.max) {
			it.Queue.full.Add(1)
			full = append(full, it.Queue.Name())
			continue
		}
		take = append(take, it)
	}
	if len(take) > 0 {
		err := d.db.Update(func(tx *bolt.Tx) error {
			for _, it := range take {
				b := tx.Bucket(it.Queue.name)
				seq, err := b.NextSequence()
				if err != nil {
					return err
				}
				if err := b.Put(key(seq), it.Data); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		for _, it := range take {
			it.Queue.depth.Add(1)
			select {
			case it.Queue.wake <- struct{}{}:
			default:
			}
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w: %v", ErrFull, full)
	}
	return nil
}

// Peek returns up to n of the oldest messages, oldest first, with their
// bytes copied out of the file.
func (q *Queue) Peek(n int) ([]Message, error) {
	var out []Message
	err := q.d.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(q.name).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			out = append(out, Message{Seq: binary.BigEndian.Uint64(k), Data: append([]byte(nil), v...)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", q.name, err)
	}
	return out, nil
}

// Ack removes every message up to and including seq: the receiver has them.
func (q *Queue) Ack(seq uint64) error {
	removed := 0
	err := q.d.db.Update(func(tx *bolt.Tx) error {
		removed = 0
		c := tx.Bucket(q.name).Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= seq; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
			removed++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox %s: %w", q.name, err)
	}
	q.depth.Add(-int64(removed))
	return nil
}

func key(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// Deliver hands msgs (oldest first, at least one) to the receiver and
// returns how many of them, from the front, the receiver has taken. Any
// error means the rest must be sent again after a backoff.
type Deliver func(ctx context.Context, msgs []Message) (int, error)

// RunOptions tune Run. Zero values take the defaults.
type RunOptions struct {
	// Batch is how many messages one Deliver call is given (default 1).
	Batch int
	// Backoff is the first wait after a failed delivery (default 200ms),
	// doubling up to MaxBackoff (default 30s).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// OnFailure, if set, is told each failed delivery and how many failed
	// in a row; returning false stops Run (ErrStopped), leaving the
	// messages queued.
	OnFailure func(err error, consecutive int) bool
	// OnSuccess, if set, is told after each delivery that took messages.
	OnSuccess func()
}

// ErrStopped is returned by Run when OnFailure asked it to stop.
var ErrStopped = errors.New("outbox: delivery stopped after repeated failures")

// Run drains the queue in order through deliver until ctx ends (returning
// nil), OnFailure stops it (ErrStopped) or the file fails. A message leaves
// the queue only after deliver counted it as taken.
func (q *Queue) Run(ctx context.Context, deliver Deliver, o RunOptions) error {
	if o.Batch <= 0 {
		o.Batch = 1
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	wait, fails := o.Backoff, 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		if q.d.closed.Load() {
			return ErrClosed
		}
		msgs, err := q.Peek(o.Batch)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-q.wake:
			}
			continue
		}
		n, derr := deliver(ctx, msgs)
		n = min(max(n, 0), len(msgs))
		if n > 0 {
			if err := q.Ack(msgs[n-1].Seq); err != nil {
				return err
			}
			if o.OnSuccess != nil {
				o.OnSuccess()
			}
		}
		if derr == nil && n > 0 {
			wait, fails = o.Backoff, 0
			continue
		}
		if derr == nil {
			derr = errors.New("receiver took nothing")
		}
		if ctx.Err() != nil {
			return nil
		}
		fails++
		if o.OnFailure != nil && !o.OnFailure(derr, fails) {
			return ErrStopped
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(wait*2, o.MaxBackoff)
	}
}
