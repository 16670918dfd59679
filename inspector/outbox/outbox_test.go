package outbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func openTemp(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return d, path
}

func TestPutPeekAckSurvivesReopen(t *testing.T) {
	d, path := openTemp(t)
	q, err := d.Queue("mqtt", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := q.Put([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := q.Peek(2)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || string(msgs[0].Data) != "0" || string(msgs[1].Data) != "1" {
		t.Fatalf("peek = %+v", msgs)
	}
	if err := q.Ack(msgs[1].Seq); err != nil {
		t.Fatal(err)
	}
	if q.Len() != 3 {
		t.Fatalf("len after ack = %d, want 3", q.Len())
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Put([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close: %v, want ErrClosed", err)
	}

	d, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	q, err = d.Queue("mqtt", 0)
	if err != nil {
		t.Fatal(err)
	}
	if q.Len() != 3 {
		t.Fatalf("len after reopen = %d, want 3", q.Len())
	}
	msgs, _ = q.Peek(10)
	var got []string
	for _, m := range msgs {
		got = append(got, string(m.Data))
	}
	if strings.Join(got, ",") != "2,3,4" {
		t.Fatalf("after reopen: %v, want 2,3,4", got)
	}
	// Sequence numbers keep growing across a reopen: order holds.
	if err := q.Put([]byte("5")); err != nil {
		t.Fatal(err)
	}
	msgs, _ = q.Peek(10)
	if last := msgs[len(msgs)-1]; string(last.Data) != "5" || last.Seq <= msgs[len(msgs)-2].Seq {
		t.Fatalf("new message not last: %+v", msgs)
	}
}

func TestFullQueueRejects(t *testing.T) {
	d, _ := openTemp(t)
	defer d.Close()
	q, _ := d.Queue("small", 2)
	for i := range 2 {
		if err := q.Put([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Put([]byte{9}); !errors.Is(err, ErrFull) {
		t.Fatalf("third put: %v, want ErrFull", err)
	}
	if q.Rejected() != 1 || q.Len() != 2 {
		t.Fatalf("rejected %d len %d", q.Rejected(), q.Len())
	}
	if n := testutil.CollectAndCount(Collector{Queues: []*Queue{q}}, "pruefplatz_outbox_depth"); n != 1 {
		t.Fatalf("depth series = %d", n)
	}
}

// TestRunDeliversInOrderThroughFailures: a receiver that fails, then takes
// part of a batch, then recovers gets every message once, in order.
func TestRunDeliversInOrderThroughFailures(t *testing.T) {
	d, _ := openTemp(t)
	defer d.Close()
	q, _ := d.Queue("w", 0)
	const n = 50
	for i := range n {
		if err := q.Put([]byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var got []string
	calls := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	deliver := func(ctx context.Context, msgs []Message) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		switch {
		case calls <= 3:
			return 0, errors.New("receiver down")
		case calls == 4:
			got = append(got, string(msgs[0].Data), string(msgs[1].Data))
			return 2, errors.New("connection lost mid-batch")
		}
		for _, m := range msgs {
			got = append(got, string(m.Data))
		}
		if len(got) == n {
			cancel()
		}
		return len(msgs), nil
	}
	var fails []int
	done := make(chan error, 1)
	go func() {
		done <- q.Run(ctx, deliver, RunOptions{Batch: 8, Backoff: time.Millisecond, OnFailure: func(_ error, c int) bool {
			fails = append(fails, c)
			return true
		}})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not drained")
	}
	for i, s := range got {
		if s != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: order or exactly-once broken: %v", i, s, got)
		}
	}
	if len(got) != n || q.Len() != 0 {
		t.Fatalf("got %d, queue %d", len(got), q.Len())
	}
	if fmt.Sprint(fails) != "[1 2 3 4]" {
		t.Fatalf("consecutive failure counts %v", fails)
	}
}

func TestRunStopsWhenOnFailureSaysSo(t *testing.T) {
	d, _ := openTemp(t)
	defer d.Close()
	q, _ := d.Queue("w", 0)
	_ = q.Put([]byte("x"))
	err := q.Run(context.Background(), func(context.Context, []Message) (int, error) {
		return 0, errors.New("no")
	}, RunOptions{Backoff: time.Millisecond, OnFailure: func(_ error, c int) bool { return c < 3 }})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("run: %v, want ErrStopped", err)
	}
	if q.Len() != 1 {
		t.Fatal("message lost when delivery stopped")
	}
}

// TestRunWakesOnPut: an idle loop delivers a message put later at once.
func TestRunWakesOnPut(t *testing.T) {
	d, _ := openTemp(t)
	defer d.Close()
	q, _ := d.Queue("w", 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 1)
	go q.Run(ctx, func(_ context.Context, m []Message) (int, error) {
		got <- string(m[0].Data)
		return 1, nil
	}, RunOptions{})
	time.Sleep(20 * time.Millisecond)
	if err := q.Put([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "hi" {
			t.Fatal(s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("idle Run did not wake on Put")
	}
}

// TestPutManyOneTransaction: one Put feeds several queues; a full queue
// refuses its item without costing the others theirs.
func TestPutManyOneTransaction(t *testing.T) {
	d, _ := openTemp(t)
	defer d.Close()
	a, _ := d.Queue("a", 0)
	b, _ := d.Queue("b", 1)
	if err := d.Put(Item{a, []byte("1")}, Item{b, []byte("1")}); err != nil {
		t.Fatal(err)
	}
	err := d.Put(Item{a, []byte("2")}, Item{b, []byte("2")})
	if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "b") {
		t.Fatalf("put into a full b: %v", err)
	}
	if a.Len() != 2 || b.Len() != 1 || b.Rejected() != 1 || a.Rejected() != 0 {
		t.Fatalf("a %d b %d rejected %d/%d", a.Len(), b.Len(), a.Rejected(), b.Rejected())
	}
	msgs, _ := a.Peek(5)
	if len(msgs) != 2 || string(msgs[1].Data) != "2" {
		t.Fatalf("a holds %+v", msgs)
	}
}
