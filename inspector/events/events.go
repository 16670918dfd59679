// Package events is the station's one event broker: the station publishes
// live decisions, verdicts and status changes, the web UI publishes the
// reviews made through it, and every subscriber (the pages' event streams,
// integrations) reads them all from the same place.
package events

import (
	"context"
	"sync"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Broker fans each published event out to every subscriber. Publishing
// never blocks: a subscriber whose buffer is full loses that event, so a
// slow reader cannot slow the camera loop. The zero value is not usable;
// call New.
type Broker struct {
	mu     sync.Mutex
	subs   map[chan inspector.Event]struct{}
	buffer int
}

// New returns a broker whose subscribers each buffer up to buffer events
// (default 32).
func New(buffer int) *Broker {
	if buffer <= 0 {
		buffer = 32
	}
	return &Broker{subs: map[chan inspector.Event]struct{}{}, buffer: buffer}
}

// Subscribe returns a channel of every event published from now until ctx
// ends; then the channel is closed.
func (b *Broker) Subscribe(ctx context.Context) <-chan inspector.Event {
	ch := make(chan inspector.Event, b.buffer)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
		close(ch)
	}()
	return ch
}

// Publish hands e to every subscriber with room for it.
func (b *Broker) Publish(e inspector.Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Subscribers is the number of open subscriptions.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
