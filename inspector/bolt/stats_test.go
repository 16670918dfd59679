package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
)

// scanCounts counts every stored verdict the slow way.
func scanCounts(t *testing.T, s *Store) map[shiftstats.Key]int64 {
	t.Helper()
	tally := shiftstats.Tally{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketVerdicts).ForEach(func(k, data []byte) error {
			var v inspector.Verdict
			if err := json.Unmarshal(data, &v); err != nil {
				return err
			}
			tally.Add(&v, 1)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return tally
}

// checkCounters fails unless the stored counters equal a full scan.
func checkCounters(t *testing.T, s *Store) {
	t.Helper()
	got, err := s.StatCounts(context.Background(), time.Unix(0, 0), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	want := scanCounts(t, s)
	gotMap := map[shiftstats.Key]int64{}
	for _, c := range got {
		gotMap[c.Key] += c.N
	}
	if len(gotMap) != len(want) {
		t.Errorf("%d counters, a scan gives %d:\n got %v\nwant %v", len(gotMap), len(want), gotMap, want)
		return
	}
	for k, n := range want {
		if gotMap[k] != n {
			t.Errorf("counter %+v = %d, a scan gives %d", k, gotMap[k], n)
		}
	}
}

func TestCountersFollowAddsReviewsAndPrune(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	outcomes := []inspector.Outcome{inspector.OutcomeOK, inspector.OutcomeNOK, inspector.OutcomeUncertain}
	labels := []string{"ok", "crack", ""}
	for i := range 120 {
		v := verdict(i*7, outcomes[i%3], labels[i%3])
		if i%10 == 0 {
			v.Trigger = shiftstats.DemoTrigger
		}
		if err := s.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	checkCounters(t, s)

	// Confirm an OK, overrule a NOK, settle an uncertain one twice (the
	// second review undoes the first's counter; settling is no override).
	reviews := []struct {
		id uint64
		r  inspector.Review
	}{
		{1, inspector.Review{Outcome: inspector.OutcomeOK, Label: "ok", Confirmed: true, By: "a"}},
		{2, inspector.Review{Outcome: inspector.OutcomeOK, Label: "ok", By: "a"}},
		{3, inspector.Review{Outcome: inspector.OutcomeNOK, Label: "crack", By: "a"}},
		{3, inspector.Review{Outcome: inspector.OutcomeNOK, Label: "scratch", By: "b"}},
	}
	for _, rv := range reviews {
		if err := s.SetReview(ctx, rv.id, rv.r); err != nil {
			t.Fatal(err)
		}
	}
	checkCounters(t, s)
	overridden := 0
	for k, n := range scanCounts(t, s) {
		if k.Overridden {
			overridden += int(n)
		}
	}
	if overridden != 1 {
		t.Fatalf("%d overridden verdicts counted, want 1", overridden)
	}

	n, err := s.Prune(ctx, 50, 0, t0)
	if err != nil || n != 70 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	checkCounters(t, s)
	n, err = s.Prune(ctx, 0, time.Hour, t0.Add(120*7*time.Minute))
	if err != nil || n == 0 {
		t.Fatalf("prune by age: %d, %v", n, err)
	}
	checkCounters(t, s)
}

func TestCountersRebuiltOnceForOldStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 40 {
		if err := s.Add(ctx, verdict(i*11, inspector.OutcomeNOK, "crack")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetReview(ctx, 5, inspector.Review{Outcome: inspector.OutcomeOK, Label: "ok"}); err != nil {
		t.Fatal(err)
	}
	want := scanCounts(t, s)
	// Make it look like a store from before the counters.
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket(bucketStats); err != nil {
			return err
		}
		return tx.DeleteBucket(bucketMeta)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	var logs bytes.Buffer
	s, err = Open(path, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "counting verdicts for the statistics") || !strings.Contains(logs.String(), "statistics counters ready") {
		t.Fatalf("rebuild not logged:\n%s", logs.String())
	}
	checkCounters(t, s)
	if got := scanCounts(t, s); len(got) != len(want) {
		t.Fatalf("rebuilt %d counters, want %d", len(got), len(want))
	}
	s.Close()

	logs.Reset()
	s, err = Open(path, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if logs.Len() != 0 {
		t.Fatalf("second open counted again:\n%s", logs.String())
	}
	checkCounters(t, s)
}

func TestAddAll(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var vs []*inspector.Verdict
	for i := range 30 {
		vs = append(vs, verdict(i, inspector.OutcomeOK, "ok"))
	}
	if err := s.AddAll(ctx, vs); err != nil {
		t.Fatal(err)
	}
	for i, v := range vs {
		if v.ID != uint64(i+1) {
			t.Fatalf("verdict %d got id %d", i, v.ID)
		}
	}
	// A verdict that cannot be encoded fails the whole batch.
	bad := []*inspector.Verdict{verdict(40, inspector.OutcomeOK, "ok"), verdict(41, inspector.OutcomeOK, "a\x00b")}
	if err := s.AddAll(ctx, bad); err == nil || bad[0].ID != 0 {
		t.Fatalf("bad batch: %v, first id %d", err, bad[0].ID)
	}
	if st, _ := s.Stats(); st.Count != 30 {
		t.Fatalf("%d verdicts stored, want 30", st.Count)
	}
}

func TestStatCountsRange(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for i := range 10 {
		if err := s.Add(ctx, verdict(i*15, inspector.OutcomeOK, "ok")); err != nil {
			t.Fatal(err)
		}
	}
	// t0 is 08:00; verdict i is at 08:00 + 15i minutes, one per slot.
	got, err := s.StatCounts(ctx, t0.Add(30*time.Minute), t0.Add(75*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var slots []int64
	for _, c := range got {
		slots = append(slots, (c.Slot-t0.Unix())/60)
	}
	sort.Slice(slots, func(i, j int) bool { return slots[i] < slots[j] })
	// 75 minutes is a slot start, so that slot lies outside [30, 75).
	if len(slots) != 3 || slots[0] != 30 || slots[2] != 60 {
		t.Fatalf("slots (minutes after t0) %v, want [30 45 60]", slots)
	}
}
