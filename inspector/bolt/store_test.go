package bolt

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// openTest opens a store in a temp dir and checks its consistency at the end.
func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("consistency check: %v", err)
		}
		checkCounters(t, s)
		s.Close()
	})
	return s
}

var t0 = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// verdict makes verdict i, its content derived from i so it can be checked.
func verdict(i int, outcome inspector.Outcome, label string) *inspector.Verdict {
	return &inspector.Verdict{
		Time: t0.Add(time.Duration(i) * time.Minute), Source: "cam", Trigger: "continuous",
		Model:    inspector.ModelRef{Name: "demo-defects", Version: "v1", SHA256: "abc", DatasetHash: "def"},
		Decision: inspector.Decision{Outcome: outcome, Label: label, TopK: []inspector.Prediction{{Label: label, Score: 0.9}}},
		Image:    bytes.Repeat([]byte{byte(i)}, 1000+i), Thumb: []byte(fmt.Sprintf("thumb-%d", i)),
	}
}

func TestAddGetList(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	outcomes := []inspector.Outcome{inspector.OutcomeOK, inspector.OutcomeNOK, inspector.OutcomeUncertain}
	labels := []string{"ok", "scratch", ""}
	for i := 0; i < 30; i++ {
		v := verdict(i, outcomes[i%3], labels[i%3])
		if err := s.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
		if v.ID != uint64(i+1) {
			t.Fatalf("id %d, want %d", v.ID, i+1)
		}
	}
	got, err := s.Get(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Image, verdict(6, "", "").Image) || string(got.Thumb) != "thumb-6" || got.Model.Name != "demo-defects" {
		t.Errorf("verdict 7 read back wrong: %+v", got.Decision)
	}
	if _, err := s.Get(ctx, 999); !errors.Is(err, inspector.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	cases := []struct {
		name  string
		q     inspector.VerdictQuery
		ids   []uint64
		count int
	}{
		{"latest 3", inspector.VerdictQuery{Limit: 3}, []uint64{30, 29, 28}, 3},
		{"page before 5", inspector.VerdictQuery{Limit: 10, Before: 5}, []uint64{4, 3, 2, 1}, 4},
		{"nok only", inspector.VerdictQuery{Outcome: inspector.OutcomeNOK, Limit: 2}, []uint64{29, 26}, 2},
		{"label scratch", inspector.VerdictQuery{Label: "scratch"}, nil, 10},
		{"time window", inspector.VerdictQuery{From: t0.Add(10 * time.Minute), To: t0.Add(15 * time.Minute)}, []uint64{15, 14, 13, 12, 11}, 5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vs, err := s.List(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != c.count {
				t.Fatalf("%d verdicts, want %d", len(vs), c.count)
			}
			for i, id := range c.ids {
				if vs[i].ID != id {
					t.Errorf("position %d: id %d, want %d", i, vs[i].ID, id)
				}
			}
			for _, v := range vs {
				if v.Image != nil {
					t.Error("listing carries images")
				}
			}
		})
	}
}

func TestReviewAndCounts(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		s.Add(ctx, verdict(i, inspector.OutcomeUncertain, ""))
	}
	r := inspector.Review{Label: "scratch", Outcome: inspector.OutcomeNOK, By: "anna", At: t0}
	if err := s.SetReview(ctx, 2, r); err != nil {
		t.Fatal(err)
	}
	r2 := inspector.Review{Label: "ok", Outcome: inspector.OutcomeOK, By: "ben", At: t0.Add(time.Hour), Comment: "was dust"}
	if err := s.SetReview(ctx, 2, r2); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Get(ctx, 2)
	if v.Review == nil || v.Review.By != "ben" || len(v.History) != 1 || v.History[0].By != "anna" {
		t.Errorf("review history wrong: %+v %+v", v.Review, v.History)
	}
	if err := s.SetReview(ctx, 99, r); !errors.Is(err, inspector.ErrNotFound) {
		t.Errorf("review of unknown id: %v", err)
	}
	c, err := s.Counts(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if c[inspector.OutcomeUncertain] != 3 || c[inspector.OutcomeOK] != 1 {
		t.Errorf("counts %v: the review should count", c)
	}
	// Both exports carry both reviews, oldest first.
	var buf bytes.Buffer
	if err := s.Export(ctx, &buf, "csv", inspector.VerdictQuery{}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	if err != nil || len(rows) != 5 || rows[0][col["reviews"]] != "reviews" {
		t.Fatalf("csv: %v %v", rows, err)
	}
	if rows[3][col["effective_outcome"]] != "ok" || rows[3][col["outcome"]] != "uncertain" {
		t.Errorf("csv effective outcome of the reviewed verdict: %v", rows[3])
	}
	if got, want := rows[3][col["reviews"]], "2026-11-23T08:00:00Z anna scratch; 2026-11-23T09:00:00Z ben ok (was dust)"; rows[3][0] != "2" || got != want {
		t.Errorf("csv reviews of verdict %s: %q, want %q", rows[3][0], got, want)
	}
	buf.Reset()
	if err := s.Export(ctx, &buf, "json", inspector.VerdictQuery{}); err != nil {
		t.Fatal(err)
	}
	var all []inspector.Verdict
	if err := json.Unmarshal(buf.Bytes(), &all); err != nil || len(all) != 4 {
		t.Fatalf("json: %v", err)
	}
	if rs := all[2].Reviews(); len(rs) != 2 || rs[0].By != "anna" || rs[1].By != "ben" {
		t.Errorf("json reviews %+v", rs)
	}
	st, err := s.Stats()
	fi, ferr := os.Stat(s.Path())
	if err != nil || ferr != nil || st.Count != 4 || st.SizeBytes == 0 || st.SizeBytes != fi.Size() {
		t.Errorf("stats %+v (%v); the file has %d bytes (%v)", st, err, fi.Size(), ferr)
	}
}

// TestLegacyReviewRecord reads a record written before reviews had a
// history (one "review", no "review_history") and reviews it again.
func TestLegacyReviewRecord(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	legacy := `{"id":1,"time":"2025-03-01T06:00:00Z","source":"cam","trigger":"continuous","model":{"name":"m","version":"v1","sha256":"","dataset_hash":""},` +
		`"thresholds":{"accept":0.8,"reject":0.2},"outcome":"nok","label":"dent","top_k":[{"label":"dent","index":1,"score":0.9}],` +
		`"review":{"label":"ok","outcome":"ok","by":"operator","at":"2025-03-01T06:01:00Z","confirmed":false}}`
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketVerdicts)
		b.SetSequence(1)
		// Counted as the one-time rebuild of an old store would count it.
		var v inspector.Verdict
		if err := json.Unmarshal([]byte(legacy), &v); err != nil {
			return err
		}
		if err := bump(tx, &v, 1); err != nil {
			return err
		}
		return b.Put(key(1), []byte(legacy))
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.Get(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if rs := v.Reviews(); len(rs) != 1 || rs[0].By != "operator" {
		t.Fatalf("legacy reviews %+v", rs)
	}
	if o, l := v.Effective(); o != inspector.OutcomeOK || l != "ok" {
		t.Errorf("legacy effective %s %s", o, l)
	}
	if err := s.SetReview(ctx, 1, inspector.Review{Label: "dent", Outcome: inspector.OutcomeNOK, By: "ben", Via: "session", At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	v, _ = s.Get(ctx, 1)
	if rs := v.Reviews(); len(rs) != 2 || rs[0].By != "operator" || rs[1].By != "ben" || rs[1].Via != "session" {
		t.Errorf("after a second review %+v", rs)
	}
}

func TestPruneExportBackup(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		s.Add(ctx, verdict(i, inspector.OutcomeOK, "ok"))
	}
	n, err := s.Prune(ctx, 40, 0, t0)
	if err != nil || n != 10 {
		t.Fatalf("prune by count deleted %d (%v), want 10", n, err)
	}
	n, _ = s.Prune(ctx, 0, 30*time.Minute, t0.Add(49*time.Minute))
	if n != 9 { // minutes 10..18 are older than 30 minutes at minute 49
		t.Errorf("prune by age deleted %d, want 9", n)
	}
	if _, err := s.Image(5, false); !errors.Is(err, inspector.ErrNotFound) {
		t.Error("pruned verdict's image is still there")
	}
	var buf bytes.Buffer
	if err := s.Export(ctx, &buf, "csv", inspector.VerdictQuery{From: t0.Add(45 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 6 || rows[0][0] != "id" || rows[1][0] != "50" {
		t.Errorf("csv export: %v rows %v", err, rows)
	}
	buf.Reset()
	if err := s.Export(ctx, &buf, "json", inspector.VerdictQuery{}); err != nil {
		t.Fatal(err)
	}
	var all []inspector.Verdict
	if err := json.Unmarshal(buf.Bytes(), &all); err != nil || len(all) != 31 {
		t.Errorf("json export: %v, %d verdicts", err, len(all))
	}
	if err := s.Export(ctx, &buf, "xml", inspector.VerdictQuery{}); err == nil {
		t.Error("unknown format accepted")
	}
	// A backup taken while a writer runs opens and holds what was there before.
	done := make(chan struct{})
	go func() {
		for i := 100; i < 150; i++ {
			s.Add(ctx, verdict(i, inspector.OutcomeOK, "ok"))
		}
		close(done)
	}()
	copyPath := filepath.Join(t.TempDir(), "backup.db")
	f, _ := os.Create(copyPath)
	if _, err := s.Backup(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	<-done
	b, err := Open(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Check(); err != nil {
		t.Errorf("backup inconsistent: %v", err)
	}
	if st, _ := b.Stats(); st.Count < 31 {
		t.Errorf("backup holds %d verdicts, want at least 31", st.Count)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	s := openTest(t)
	if _, err := Open(s.Path()); !errors.Is(err, ErrInUse) {
		t.Errorf("second open: %v, want ErrInUse", err)
	}
}

// TestHelperWriter is the child of TestDurableAfterSIGKILL: it adds verdicts
// and prints each id once Add has returned.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv("PRUEFPLATZ_STORE_WRITER")
	if path == "" {
		t.Skip("helper process only")
	}
	s, err := Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		v := verdict(i, inspector.OutcomeOK, "ok")
		if err := s.Add(context.Background(), v); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(v.ID)
	}
}

func TestDurableAfterSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
	cmd.Env = append(os.Environ(), "PRUEFPLATZ_STORE_WRITER="+path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var acked []uint64
	for sc.Scan() && len(acked) < 300 {
		id, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			continue
		}
		acked = append(acked, id)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if len(acked) < 300 {
		t.Fatalf("writer acknowledged only %d verdicts", len(acked))
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatalf("store inconsistent after SIGKILL: %v", err)
	}
	for _, id := range acked {
		v, err := s.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("acknowledged verdict %d lost: %v", id, err)
		}
		want := verdict(int(id-1), inspector.OutcomeOK, "ok")
		if !bytes.Equal(v.Image, want.Image) || !v.Time.Equal(want.Time) || v.Label != "ok" {
			t.Fatalf("verdict %d damaged", id)
		}
	}
}

// TestConcurrentAdds has many writers add at once: every verdict gets its
// own id and is stored whole with its own images; Add after Close fails.
func TestConcurrentAdds(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const writers, each = 8, 40
	var wg sync.WaitGroup
	ids := make(chan uint64, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				v := verdict(w*each+i, inspector.OutcomeOK, fmt.Sprintf("w%d-%d", w, i))
				if err := s.Add(ctx, v); err != nil {
					t.Error(err)
					return
				}
				ids <- v.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[uint64]bool{}
	for id := range ids {
		if seen[id] || id < 1 || id > writers*each {
			t.Fatalf("id %d repeated or out of range", id)
		}
		seen[id] = true
	}
	if len(seen) != writers*each {
		t.Fatalf("%d ids, want %d", len(seen), writers*each)
	}
	for id := range seen {
		v, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var w, i int
		if _, err := fmt.Sscanf(v.Label, "w%d-%d", &w, &i); err != nil {
			t.Fatalf("verdict %d label %q", id, v.Label)
		}
		if want := verdict(w*each+i, "", ""); !bytes.Equal(v.Image, want.Image) || string(v.Thumb) != string(want.Thumb) {
			t.Fatalf("verdict %d (%s) stored with another verdict's images", id, v.Label)
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, verdict(0, inspector.OutcomeOK, "ok")); !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		t.Errorf("Add after Close: %v, want ErrDatabaseNotOpen", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
