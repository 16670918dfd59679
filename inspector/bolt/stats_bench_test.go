package bolt

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
)

// BenchmarkStats computes the statistics page's report from a store of
// 1,000,000 verdicts (a month at one part every 2.5 s): reading the
// counters of the span and building the report. Goals: a day < 200 ms, a
// week < 1 s. The first Open of a freshly built big store counts its
// verdicts (the migration of a store from before the counters); that
// time is printed once.
func BenchmarkStats(b *testing.B) {
	path := bigStore(b)
	t0 := time.Now()
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	if d := time.Since(t0); d > time.Second {
		fmt.Fprintf(os.Stderr, "opened (statistics counters counted) in %s\n", d.Round(time.Millisecond))
	}
	defer s.Close()
	sc, err := shiftstats.ParseSchedule(shiftstats.DefaultShifts, time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// Mid-month in benchVerdict's time range.
	at := time.Date(2026, 10, 15, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		view shiftstats.View
		min  int64
	}{
		{"day", shiftstats.ViewDay, 30_000},
		{"week", shiftstats.ViewWeek, 200_000},
	} {
		b.Run(c.name, func(b *testing.B) {
			var d durations
			q := shiftstats.Query{View: c.view, At: at}
			for range b.N {
				start := time.Now()
				span, _, err := sc.Span(q)
				if err != nil {
					b.Fatal(err)
				}
				counts, err := s.StatCounts(ctx, span.Start, span.End)
				if err != nil {
					b.Fatal(err)
				}
				r, err := sc.Build(q, counts)
				d.add(time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				if r.Total.Total < c.min {
					b.Fatalf("%d verdicts in the %s, want at least %d", r.Total.Total, c.name, c.min)
				}
			}
			d.report(b)
		})
	}
}
