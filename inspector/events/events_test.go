package events

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/pruefplatz/pruefplatz/inspector"
)

func TestEverySubscriberGetsEveryEventUntilItLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(4)
		ctx1, cancel1 := context.WithCancel(context.Background())
		ctx2, cancel2 := context.WithCancel(context.Background())
		defer cancel2()
		a, c := b.Subscribe(ctx1), b.Subscribe(ctx2)
		b.Publish(inspector.Event{Kind: inspector.EventVerdict})
		b.Publish(inspector.Event{Kind: inspector.EventReview})
		for _, ch := range []<-chan inspector.Event{a, c} {
			if e := <-ch; e.Kind != inspector.EventVerdict {
				t.Errorf("first event %s", e.Kind)
			}
			if e := <-ch; e.Kind != inspector.EventReview {
				t.Errorf("second event %s", e.Kind)
			}
		}
		cancel1()
		synctest.Wait()
		if _, ok := <-a; ok || b.Subscribers() != 1 {
			t.Errorf("a left but its channel is open or still counted (%d)", b.Subscribers())
		}
		b.Publish(inspector.Event{Kind: inspector.EventStatus})
		if e := <-c; e.Kind != inspector.EventStatus {
			t.Errorf("the remaining subscriber got %s", e.Kind)
		}
	})
}

func TestSlowSubscriberLosesEventsWithoutBlocking(t *testing.T) {
	b := New(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := b.Subscribe(ctx)
	for range 10 { // would block forever if Publish waited for the reader
		b.Publish(inspector.Event{Kind: inspector.EventLive})
	}
	if n := len(slow); n != 2 {
		t.Errorf("%d events buffered, want the buffer's 2", n)
	}
}
