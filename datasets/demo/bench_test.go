package demo

import (
	"context"
	"testing"
)

// BenchmarkImage measures one 640×480 image of each set, render and JPEG
// encode, on one core. Generate's wall time is about
// images × this / cores plus the feed.
func BenchmarkImage(b *testing.B) {
	for _, set := range []struct{ name, class string }{{SetParts, "hex_bolt"}, {SetDefects, "scratch"}} {
		b.Run(set.name, func(b *testing.B) {
			for i := range b.N {
				if _, err := Image(1, set.name, set.class, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFeed measures the whole default demo feed (14 parts, 15 fps).
func BenchmarkFeed(b *testing.B) {
	for range b.N {
		if _, err := GenerateFeed(context.Background(), FeedOptions{Seed: 1, Set: "defects", Out: b.TempDir()}); err != nil {
			b.Fatal(err)
		}
	}
}
