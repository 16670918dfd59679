package shiftstats

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata for Europe/Berlin: %v", err)
	}
	return loc
}

func TestParseSchedule(t *testing.T) {
	for _, tc := range []struct {
		name, spec string
		ok         bool
	}{
		{"three shifts", DefaultShifts, true},
		{"two shifts with a gap", "06:00-14:00,15:00-23:00", true},
		{"one day-long shift", "06:00-06:00", true},
		{"overlap", "06:00-14:00,13:00-22:00", false},
		{"overlap across midnight", "22:00-06:00,05:00-08:00", false},
		{"not on a quarter hour", "06:10-14:00", false},
		{"no dash", "06:00", false},
		{"bad clock", "6-14", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSchedule(tc.spec, time.UTC)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseSchedule(%q) = %v, want ok=%v", tc.spec, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrSchedule) {
				t.Fatalf("error %v does not wrap ErrSchedule", err)
			}
		})
	}
}

func TestShiftAt(t *testing.T) {
	loc := berlin(t)
	sc, err := ParseSchedule(DefaultShifts, loc)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tt, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	for _, tc := range []struct {
		name, at, day string
		shift         int
	}{
		{"morning", "2026-12-03 06:00", "2026-12-03", 0},
		{"last minute of the morning", "2026-12-03 13:59", "2026-12-03", 0},
		{"afternoon", "2026-12-03 14:00", "2026-12-03", 1},
		{"night before midnight", "2026-12-03 23:30", "2026-12-03", 2},
		{"night after midnight belongs to the day it started", "2026-12-04 05:59", "2026-12-03", 2},
		{"night across new year", "2027-01-01 02:00", "2026-12-31", 2},
		{"spring forward night", "2026-03-29 04:00", "2026-03-28", 2},
		{"fall back night", "2026-10-25 02:30", "2026-10-24", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			day, shift, ok := sc.ShiftAt(at(tc.at))
			if !ok || day.Format("2006-01-02") != tc.day || shift != tc.shift {
				t.Fatalf("ShiftAt(%s) = %s shift %d ok=%v, want %s shift %d", tc.at, day.Format("2006-01-02"), shift, ok, tc.day, tc.shift)
			}
		})
	}
}

func TestShiftLengthOnDSTDays(t *testing.T) {
	loc := berlin(t)
	sc, err := ParseSchedule(DefaultShifts, loc)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		day  string
		want time.Duration
	}{
		{"ordinary night", "2026-12-03", 8 * time.Hour},
		{"spring forward: the night loses an hour", "2026-03-28", 7 * time.Hour},
		{"fall back: the night gains an hour", "2026-10-24", 9 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := time.ParseInLocation("2006-01-02", tc.day, loc)
			p := sc.ShiftPeriod(d, 2)
			if got := p.End.Sub(p.Start); got != tc.want {
				t.Fatalf("night shift of %s lasts %v, want %v", tc.day, got, tc.want)
			}
			dp := sc.DayPeriod(d)
			if !dp.End.Equal(p.End) {
				t.Fatalf("day %s ends %v, want the night's end %v", tc.day, dp.End, p.End)
			}
		})
	}
}

func TestKeyRoundTrip(t *testing.T) {
	k := Key{Slot: 1764745200, Model: "demo-defects/v1", Outcome: "uncertain", EffOutcome: "nok", EffLabel: "crack", Reviewed: true, Overridden: true, Demo: true}
	b, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got Key
	if err := got.UnmarshalBinary(b); err != nil || got != k {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, k)
	}
	if err := got.UnmarshalBinary(b[:10]); !errors.Is(err, ErrBadKey) {
		t.Fatalf("truncated key: %v, want ErrBadKey", err)
	}
	k.Label = "a\x00b"
	if _, err := k.MarshalBinary(); err == nil {
		t.Fatal("a NUL byte in a label was encoded")
	}
}

func TestBuild(t *testing.T) {
	sc, err := ParseSchedule(DefaultShifts, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	m1 := inspector.ModelRef{Name: "demo-defects", Version: "v1"}
	m2 := inspector.ModelRef{Name: "demo-defects", Version: "v2"}
	tally := Tally{}
	add := func(h, min int, m inspector.ModelRef, o inspector.Outcome, label string, r *inspector.Review, trig string) {
		v := &inspector.Verdict{Time: day.Add(time.Duration(h)*time.Hour + time.Duration(min)*time.Minute), Model: m, Trigger: trig,
			Decision: inspector.Decision{Outcome: o, Label: label}, Review: r}
		tally.Add(v, 1)
	}
	// Morning (06-14): 6 OK, 2 crack (one confirmed), 1 scratch overruled
	// as dent (an override), 1 uncertain settled as crack (no override).
	for i := range 6 {
		add(7, i, m1, inspector.OutcomeOK, "ok", nil, "")
	}
	add(8, 0, m1, inspector.OutcomeNOK, "crack", nil, "")
	add(8, 1, m1, inspector.OutcomeNOK, "crack", &inspector.Review{Outcome: inspector.OutcomeNOK, Label: "crack", Confirmed: true}, "")
	add(9, 0, m2, inspector.OutcomeNOK, "scratch", &inspector.Review{Outcome: inspector.OutcomeNOK, Label: "dent"}, "")
	add(9, 5, m2, inspector.OutcomeUncertain, "", &inspector.Review{Outcome: inspector.OutcomeNOK, Label: "crack"}, "")
	// Night (22-06, next morning 03:00 still the 3rd's night shift): 2 OK, one is demo history.
	add(27, 0, m1, inspector.OutcomeOK, "ok", nil, "")
	add(27, 1, m1, inspector.OutcomeOK, "ok", nil, DemoTrigger)
	// Outside the day: the 3rd's 05:00 belongs to the 2nd's night.
	add(5, 0, m1, inspector.OutcomeNOK, "crack", nil, "")

	r, err := sc.Build(Query{View: ViewDay, At: day.Add(12 * time.Hour)}, tally.Counts())
	if err != nil {
		t.Fatal(err)
	}
	tot := r.Total
	if tot.Total != 12 || tot.OK != 8 || tot.NOK != 4 || tot.MachineUncertain != 1 || tot.Reviewed != 3 || tot.ReviewedDecided != 2 || tot.Overridden != 1 || tot.Demo != 1 {
		t.Fatalf("day total %+v", tot)
	}
	if tot.Yield != 8.0/12 || tot.OverrideRate != 0.5 || tot.UncertainShare != 1.0/12 {
		t.Fatalf("day rates: yield %v override %v uncertain %v", tot.Yield, tot.OverrideRate, tot.UncertainShare)
	}
	if len(tot.Defects) != 2 || tot.Defects[0] != (ClassCount{"crack", 3, 0.75}) || tot.Defects[1] != (ClassCount{"dent", 1, 1}) {
		t.Fatalf("pareto %+v", tot.Defects)
	}
	if got := []int64{r.Rows[0].Total, r.Rows[1].Total, r.Rows[2].Total}; got[0] != 10 || got[1] != 0 || got[2] != 2 {
		t.Fatalf("per shift totals %v, want [10 0 2]", got)
	}
	if r.Rows[0].PerHour != 10.0/8 {
		t.Fatalf("morning throughput %v/h, want %v", r.Rows[0].PerHour, 10.0/8)
	}
	if len(r.Models) != 2 || r.Models[0].Total != 10 || r.Models[1].Model != "demo-defects/v2" || r.Models[1].Overridden != 1 {
		t.Fatalf("models %+v", r.Models)
	}

	r, err = sc.Build(Query{View: ViewDay, At: day, ExcludeDemo: true}, tally.Counts())
	if err != nil || r.Total.Total != 11 || r.Total.Demo != 0 {
		t.Fatalf("without demo: %+v, %v", r.Total, err)
	}

	// Throughput of a running shift counts only the elapsed hours.
	r, err = sc.Build(Query{View: ViewShift, At: day, Shift: 0, Now: day.Add(10 * time.Hour)}, tally.Counts())
	if err != nil || r.Total.PerHour != 10.0/4 || len(r.Rows) != 8 || r.Rows[1].Total != 6 {
		t.Fatalf("shift view: %+v rows %d, %v", r.Total, len(r.Rows), err)
	}

	r, err = sc.Build(Query{View: ViewWeek, At: day}, tally.Counts())
	if err != nil || len(r.Rows) != 7 || r.Rows[3].Total != 12 || r.Rows[2].Total != 1 || r.Total.Total != 13 {
		t.Fatalf("week view: total %d rows %+v, %v", r.Total.Total, r.Rows, err)
	}
	if _, err := sc.Build(Query{View: "month", At: day}, nil); !errors.Is(err, ErrSchedule) {
		t.Fatalf("unknown view: %v", err)
	}
}

func TestWriteCSV(t *testing.T) {
	sc, _ := ParseSchedule(DefaultShifts, time.UTC)
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	tally := Tally{}
	for i, l := range []string{"ok", "crack", "crack", "ok"} {
		o := inspector.OutcomeOK
		if l != "ok" {
			o = inspector.OutcomeNOK
		}
		tally.Add(&inspector.Verdict{Time: day.Add(7*time.Hour + time.Duration(i)*time.Minute), Model: inspector.ModelRef{Name: "m", Version: "v1"},
			Decision: inspector.Decision{Outcome: o, Label: l}}, 1)
	}
	r, err := sc.Build(Query{View: ViewDay, At: day}, tally.Counts())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 1+1+3+1 {
		t.Fatalf("%d lines, want header, total, 3 shifts, 1 model:\n%s", len(lines), b.String())
	}
	if want := "total,2026-12-03,2026-12-03T06:00:00Z,2026-12-04T06:00:00Z,4,2,2,0,0,0,0,0,0,0.5000,0.0000,0.0000,0.1667,crack=2"; lines[1] != want {
		t.Fatalf("total row\n got %s\nwant %s", lines[1], want)
	}
	if !strings.HasPrefix(lines[5], "model,m/v1,") {
		t.Fatalf("model row %s", lines[5])
	}
}

func TestDemoHistory(t *testing.T) {
	mk := func(o inspector.Outcome, label string) *inspector.Verdict {
		return &inspector.Verdict{Decision: inspector.Decision{Outcome: o, Label: label}, Image: []byte("jpeg"), Thumb: []byte("thumb"), Trigger: "upload"}
	}
	samples := []DemoSample{
		{mk(inspector.OutcomeOK, "ok"), "ok"},
		{mk(inspector.OutcomeNOK, "crack"), "crack"},
		{mk(inspector.OutcomeUncertain, ""), "dent"},
		{mk(inspector.OutcomeOK, "ok"), "scratch"}, // the model missed a scratch
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	vs := DemoHistory(samples, []string{"ok"}, 0.8, now, 24*time.Hour, 2*time.Minute, rand.New(rand.NewPCG(1, 1)))
	if len(vs) < 600 || len(vs) > 840 {
		t.Fatalf("%d verdicts for a day at one per ~2 min", len(vs))
	}
	ok, reviewed, overridden := 0, 0, 0
	for i, v := range vs {
		if v.Trigger != DemoTrigger || v.Image != nil || v.Thumb == nil || v.Time.Before(now.Add(-24*time.Hour)) || !v.Time.Before(now) {
			t.Fatalf("verdict %d: %+v", i, v)
		}
		if i > 0 && v.Time.Before(vs[i-1].Time) {
			t.Fatalf("verdict %d is older than the one before", i)
		}
		if v.Label == "ok" {
			ok++
		}
		if v.Review != nil {
			reviewed++
			if v.Outcome == inspector.OutcomeUncertain && v.Review.Label != "dent" {
				t.Fatalf("uncertain verdict reviewed as %q, want its true class", v.Review.Label)
			}
		}
		if Overridden(v) {
			overridden++
		}
	}
	if share := float64(ok) / float64(len(vs)); share < 0.75 || share > 0.95 {
		t.Fatalf("OK share %.2f, want about 0.8 plus the missed scratches", share)
	}
	if reviewed == 0 || overridden == 0 {
		t.Fatalf("%d reviewed, %d overridden: the history shows no reviews or overrides", reviewed, overridden)
	}
	// The samples are copied, never changed.
	if samples[0].Verdict.Trigger != "upload" || samples[0].Verdict.Image == nil {
		t.Fatal("a sample was modified")
	}
}
