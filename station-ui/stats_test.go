package stationui

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/bolt"
	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
)

var _ StatCounter = (*bolt.Store)(nil)

// fixedMonitor is a monitor whose state the test sets.
type fixedMonitor struct{ st *monitor.Status }

func (m fixedMonitor) Latest() *monitor.Status { return m.st }

// statsDay is the day the statistics tests look at; statsNow is during its night shift.
var (
	statsDay = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	statsNow = statsDay.Add(23 * time.Hour)
)

// statsFixture is a server on a bolt store holding a known day: 40 parts
// in the morning shift (30 OK, 6 crack, 3 dent, 1 uncertain), 10 in the
// afternoon by model v2 (one of them reviewed from OK to crack), 5
// demo-history parts at night.
func statsFixture(t *testing.T, mod func(*Config)) (*fixture, *bolt.Store) {
	t.Helper()
	store, err := bolt.Open(filepath.Join(t.TempDir(), "verdicts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	users, err := bolt.OpenAuth(filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	svc := auth.NewService(users, bcrypt.MinCost, nil)
	if err := svc.AddUser(ctx, auth.Actor{Name: "test"}, "Anna", "anna's password", auth.AllRoles); err != nil {
		t.Fatal(err)
	}
	model := inspector.ModelRef{Name: "demo-defects", Version: "v1"}
	add := func(at time.Duration, o inspector.Outcome, label, trigger string) uint64 {
		v := &inspector.Verdict{Time: statsDay.Add(at), Trigger: trigger, Model: model,
			Decision: inspector.Decision{Outcome: o, Label: label, TopK: []inspector.Prediction{{Label: label, Score: 0.9}}}}
		if err := store.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	for i := range 40 {
		o, l := inspector.OutcomeOK, "ok"
		switch {
		case i < 6:
			o, l = inspector.OutcomeNOK, "crack"
		case i < 9:
			o, l = inspector.OutcomeNOK, "dent"
		case i == 9:
			o, l = inspector.OutcomeUncertain, ""
		}
		add(7*time.Hour+time.Duration(i)*time.Minute, o, l, "auto")
	}
	var reviewed uint64
	model.Version = "v2" // activated at 14:00
	for i := range 10 {
		id := add(15*time.Hour+time.Duration(i)*time.Minute, inspector.OutcomeOK, "ok", "auto")
		if i == 0 {
			reviewed = id
		}
	}
	if err := store.SetReview(ctx, reviewed, inspector.Review{Outcome: inspector.OutcomeNOK, Label: "crack", By: "Anna"}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		add(22*time.Hour+time.Duration(i)*time.Minute, inspector.OutcomeOK, "ok", shiftstats.DemoTrigger)
	}
	sc, err := shiftstats.ParseSchedule(shiftstats.DefaultShifts, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	st := newFakeStation(store)
	cfg := Config{Auth: svc, Shifts: sc, Now: func() time.Time { return statsNow },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&cfg)
	}
	srv := New(cfg, st, store, nil)
	f := &fixture{srv: srv, st: st, h: srv.Handler(), auth: svc}
	f.cookie, f.csrf = f.login(t, "Anna", "anna's password")
	return f, store
}

func TestStatsAPI(t *testing.T) {
	f, _ := statsFixture(t, nil)
	var r shiftstats.Report
	rec := f.do("GET", "/api/stats?view=day&date=2026-12-03", "", nil)
	if rec.Code != 200 {
		t.Fatalf("stats: %d %s", rec.Code, rec.Body.String())
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Total.Total != 55 || r.Total.OK != 44 || r.Total.NOK != 10 || r.Total.Overridden != 1 || r.Total.Demo != 5 {
		t.Fatalf("day total %+v", r.Total)
	}
	if len(r.Rows) != 3 || r.Rows[0].Total != 40 || r.Rows[1].Total != 10 || r.Rows[2].Total != 5 {
		t.Fatalf("shifts %+v", r.Rows)
	}
	if d := r.Total.Defects; len(d) != 2 || d[0].Label != "crack" || d[0].N != 7 {
		t.Fatalf("pareto %+v", d)
	}
	if m := r.Models; len(m) != 2 || m[0].Model != "demo-defects/v1" || m[0].Total != 40 || m[1].Total != 15 || m[1].OverrideRate != 1 {
		t.Fatalf("model comparison %+v", m)
	}

	// Without the date: today's (the running night shift's day); without demo history.
	rec = f.do("GET", "/api/stats?demo=exclude", "", nil)
	r = shiftstats.Report{}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != 200 || r.Total.Total != 50 || !r.DemoExcluded {
		t.Fatalf("default day without demo: %d %+v %v", rec.Code, r.Total, err)
	}
	// The afternoon shift: its yield and override rate.
	rec = f.do("GET", "/api/stats?view=shift&date=2026-12-03&shift=2", "", nil)
	r = shiftstats.Report{}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || r.Total.Total != 10 || r.Total.Yield != 0.9 || r.Total.OverrideRate != 1 {
		t.Fatalf("afternoon shift: %+v %v", r.Total, err)
	}

	rec = f.do("GET", "/api/stats/export?view=day&date=2026-12-03", "", nil)
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if rec.Code != 200 || len(lines) != 7 || !strings.HasPrefix(lines[1], "total,2026-12-03,") || !strings.Contains(lines[1], "crack=7 dent=3") {
		t.Fatalf("csv: %d\n%s", rec.Code, rec.Body.String())
	}
	for _, kind := range []string{"trend", "throughput", "pareto", "models"} {
		rec = f.do("GET", "/api/stats/chart/"+kind+"?date=2026-12-03", "", nil)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<svg") || rec.Header().Get("Content-Type") != "image/svg+xml" {
			t.Fatalf("chart %s: %d %s", kind, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	if rec = f.do("GET", "/api/stats/chart/pie", "", nil); rec.Code != 400 {
		t.Fatalf("unknown chart: %d", rec.Code)
	}
	for _, q := range []string{"view=month", "date=03.12.2026", "view=shift&shift=4"} {
		if rec = f.do("GET", "/api/stats?"+q, "", nil); rec.Code != 400 {
			t.Errorf("%s: %d %s", q, rec.Code, rec.Body.String())
		}
	}
	rec = f.do("GET", "/stats?date=2026-12-03", "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="kpi-total">55<`) || !strings.Contains(rec.Body.String(), "/api/stats/chart/pareto?date=2026-12-03") {
		t.Fatalf("page: %d\n%s", rec.Code, rec.Body.String())
	}
}

func TestMonitorAlarmInAPIAndMetrics(t *testing.T) {
	st := &monitor.Status{Model: "demo-defects/v1", Window: 500, Readings: []monitor.Reading{
		{Monitor: monitor.ScoreDrift, Value: 0.41, Threshold: 0.2, N: 500, State: monitor.StateAlarm},
		{Monitor: monitor.UncertainRate, Value: 0.05, Threshold: 0.2, N: 500, State: monitor.StateOK},
		{Monitor: monitor.ClassMix, State: monitor.StateNoBaseline},
	}}
	f, _ := statsFixture(t, func(c *Config) { c.Monitor = fixedMonitor{st} })
	rec := f.do("GET", "/api/monitor", "", nil)
	var res monitorResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != 200 || len(res.Alarms) != 1 || res.Alarms[0].Monitor != monitor.ScoreDrift {
		t.Fatalf("monitor: %d %s", rec.Code, rec.Body.String())
	}
	rec = f.do("GET", "/metrics", "", nil)
	body := rec.Body.String()
	for _, want := range []string{
		`pruefplatz_monitor_alarm{model="demo-defects/v1",monitor="score_drift"} 1`,
		`pruefplatz_monitor_alarm{model="demo-defects/v1",monitor="uncertain_rate"} 0`,
		`pruefplatz_monitor_value{model="demo-defects/v1",monitor="score_drift"} 0.41`,
		`pruefplatz_monitor_threshold{model="demo-defects/v1",monitor="score_drift"} 0.2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, `monitor="class_mix"`) {
		t.Error("a monitor without a baseline is exported")
	}
}

// TestStatsPageInBrowser loads the statistics page of the known day in
// headless Chromium: the figures, the four charts and the monitoring
// alarm banner show. With -screenshots it writes screenshots/stats.png.
func TestStatsPageInBrowser(t *testing.T) {
	ctx := newBrowser(t)
	mon := &monitor.Status{Model: "demo-defects/v2", Window: 500, Readings: []monitor.Reading{
		{Monitor: monitor.ScoreDrift, Value: 0.31, Threshold: 0.2, N: 500, State: monitor.StateAlarm},
		{Monitor: monitor.UncertainRate, Value: 0.04, Threshold: 0.2, N: 500, State: monitor.StateOK},
		{Monitor: monitor.OverrideRate, Value: 0.02, Threshold: 0.1, N: 61, State: monitor.StateOK},
		{Monitor: monitor.ClassMix, Value: 0.9, N: 500, State: monitor.StateReported},
	},
		LiveScores:      monitor.Histogram{Bins: 10, Counts: []int64{0, 0, 0, 0, 2, 10, 40, 90, 160, 198}},
		BaselineScores:  &monitor.Histogram{Bins: 10, Counts: []int64{0, 0, 0, 0, 0, 1, 3, 10, 60, 226}},
		LiveClasses:     map[string]int{"ok": 452, "crack": 20, "dent": 12, "scratch": 9, "missing_hole": 7},
		TrainingClasses: map[string]int{"ok": 200, "crack": 200, "dent": 200, "scratch": 200, "missing_hole": 200},
	}
	f, _ := statsFixture(t, func(c *Config) { c.KioskRoles = auth.AllRoles; c.Monitor = fixedMonitor{mon} })
	base := startServer(t, f.h)
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(base+"/stats?view=day&date=2026-12-03"),
		chromedp.WaitVisible(`#kpi-total`),
		chromedp.WaitVisible(`#monitor-banner`),
	); err != nil {
		t.Fatalf("stats page: %v", err)
	}
	for sel, want := range map[string]string{
		"#kpi-total": "55", "#kpi-yield": "80.0 %", "#kpi-nok": "10",
		"#stats-pareto tbody tr:first-child td:first-child":  "crack",
		"#stats-models tbody tr:nth-child(2) td:first-child": "demo-defects/v2",
	} {
		if got := strings.TrimSpace(text(t, ctx, sel)); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	if b := text(t, ctx, "#monitor-banner"); !strings.Contains(b, "demo-defects/v2") || !strings.Contains(b, "0.310") {
		t.Errorf("banner %q", b)
	}
	charts, err := chromedp.Run(ctx, chromedp.Poll[bool](
		`[...document.querySelectorAll(".charts img")].length === 6 && [...document.querySelectorAll(".charts img")].every(i => i.complete && i.naturalWidth > 0)`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil || !charts {
		t.Errorf("charts not shown: %v", err)
	}
	screenshot(t, ctx, "stats.png")
	if err := chromedp.Do(ctx, chromedp.ScrollIntoView(`#monitoring`)); err != nil {
		t.Fatal(err)
	}
	if got := text(t, ctx, "#monitor-table tbody tr:first-child td:last-child"); got != "ALARM" {
		t.Errorf("score drift state %q, want ALARM", got)
	}
	screenshot(t, ctx, "stats-monitoring.png")
}
