package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
)

// The station tests replay a short demo feed. Drawing one is most of such a
// test's CPU under the race detector, and the stations only read it, so
// the tests share one feed per set of options, drawn on first use.
var (
	feedRoot  string
	feedMu    sync.Mutex
	feedCache = map[string]*sharedFeed{}
)

type sharedFeed struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	var err error
	if feedRoot, err = os.MkdirTemp("", "pruefplatz-feeds-"); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(feedRoot)
	os.Exit(code)
}

// demoFeed returns the path of the feed video drawn with opt (Out unset),
// drawing it the first time it is asked for. Callers must not modify it.
func demoFeed(t *testing.T, opt demo.FeedOptions) string {
	t.Helper()
	key := fmt.Sprintf("%d/%s/%d/%d", opt.Seed, opt.Set, opt.Parts, opt.FPS)
	feedMu.Lock()
	f := feedCache[key]
	if f == nil {
		f = &sharedFeed{}
		feedCache[key] = f
	}
	feedMu.Unlock()
	f.once.Do(func() {
		if f.dir, f.err = os.MkdirTemp(feedRoot, "feed-"); f.err != nil {
			return
		}
		o := opt
		o.Out = f.dir
		_, f.err = demo.GenerateFeed(context.Background(), o)
	})
	if f.err != nil {
		t.Fatalf("demo feed %+v: %v", opt, f.err)
	}
	return filepath.Join(f.dir, "feed.avi")
}

// stationFeed is the two-part feed the whole-station tests replay.
func stationFeed(t *testing.T) string {
	return demoFeed(t, demo.FeedOptions{Seed: 3, Parts: 2, FPS: 15})
}
