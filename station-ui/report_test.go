package stationui

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/models"
	"github.com/pruefplatz/pruefplatz/models/report"
)

// reportFixture serves a registry holding a copy of the shipped default
// model, with a day of its verdicts (some reviewed) and two activations in
// the audit log.
func reportFixture(t *testing.T) (*fixture, models.Registry) {
	t.Helper()
	f := newFixture(t, nil)
	reg := models.Registry{Root: t.TempDir()}
	src := filepath.Join("..", "models", "demo-defects", "v1")
	dst := reg.Dir("demo-defects", "v1")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	card, err := reg.Activate("demo-defects", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	for i, e := range []auth.Event{
		{Time: t0, Actor: "Anna", Action: auth.ActionModelActivate, Target: "demo-parts/v1", OK: true},
		{Time: t0.Add(time.Hour), Actor: "Ben", Action: auth.ActionModelActivate, Target: "demo-defects/v1", OK: true},
	} {
		e.ID = uint64(100 + i)
		if err := f.users.AppendAudit(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	// Four verdicts of the model (three reviewed: two confirmed, one
	// overridden) and one of another model, which must not count.
	for i, label := range []string{"ok", "ok", "crack", "dent", "ok"} {
		v := &inspector.Verdict{Time: t0.Add(time.Duration(i+2) * time.Hour), Model: card.Ref(),
			Decision: inspector.Decision{Outcome: inspector.OutcomeOK, Label: label}}
		if label != "ok" {
			v.Outcome = inspector.OutcomeNOK
		}
		if i == 4 {
			v.Model = inspector.ModelRef{Name: "demo-parts", Version: "v1"}
		}
		if err := f.store.Add(ctx, v); err != nil {
			t.Fatal(err)
		}
		if i < 3 || i == 4 {
			r := inspector.Review{Label: label, By: "Anna", At: v.Time, Confirmed: i != 2}
			if err := f.store.SetReview(ctx, v.ID, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	f.srv = New(f.srv.cfg, f.st, f.store, reg)
	f.h = f.srv.Handler()
	return f, reg
}

func TestModelReport(t *testing.T) {
	f, reg := reportFixture(t)
	sum := regexp.MustCompile(`^[0-9a-f]{64}$`)

	rec := f.do("GET", "/api/models/demo-defects/v1/report", "", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/pdf" || !strings.HasPrefix(rec.Body.String(), "%PDF-") {
		t.Fatalf("pdf: %d %s %.20q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	if !sum.MatchString(rec.Header().Get("X-Content-SHA256")) || !strings.Contains(rec.Header().Get("Content-Disposition"), "demo-defects-v1-report-de.pdf") {
		t.Errorf("pdf headers %v", rec.Header())
	}

	rec = f.do("GET", "/api/models/demo-defects/v1/report?format=html&lang=en", "", nil)
	body := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("html: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{
		"This version is the station&#39;s active model.",
		"<dt>Verdicts</dt><dd>4</dd>", "<dt>Reviewed by a human</dt><dd>3</dd>", "<dt>Overridden</dt><dd>1</dd>",
		"<dt>Override rate (of reviewed)</dt><dd>33.3 %</dd>",
		// Ben's activation replaced what Anna had activated before.
		"<td>Ben</td><td>model.activate</td><td>demo-parts/v1</td>",
		"No monitoring figures supplied.",
		rec.Header().Get("X-Content-SHA256"),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("html report lacks %q", want)
		}
	}

	// The monitor's figures appear once one is wired in.
	f.srv.cfg.Monitoring = func(_ context.Context, name, version string) []report.MonitoringFigure {
		return []report.MonitoringFigure{{Name: "PSI of the top score (" + name + "/" + version + ")", Value: "0.31", Threshold: "0.25", Alarm: true}}
	}
	body = f.do("GET", "/api/models/demo-defects/v1/report?format=html&lang=en", "", nil).Body.String()
	if !strings.Contains(body, "<td>PSI of the top score (demo-defects/v1)</td><td>0.31</td><td>0.25</td><td>ALARM</td>") {
		t.Error("html report lacks the monitor's figure")
	}

	olga := func() string {
		f.auth.AddUser(context.Background(), auth.Actor{Name: "test"}, "olga", "olga's password", []auth.Role{auth.RoleOperator})
		c, _ := f.login(t, "olga", "olga's password")
		return c
	}()
	for _, tc := range []struct {
		name, path string
		cookie     string
		want       int
	}{
		{"unknown version", "/api/models/demo-defects/v9/report", f.cookie, 404},
		{"bad format", "/api/models/demo-defects/v1/report?format=docx", f.cookie, 400},
		{"bad language", "/api/models/demo-defects/v1/report?lang=fr", f.cookie, 400},
		{"operator", "/api/models/demo-defects/v1/report", olga, 403},
		{"nobody", "/api/models/demo-defects/v1/report", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := f.doAs(tc.cookie, "", "GET", tc.path, "", nil); r.Code != tc.want {
				t.Errorf("%s: %d, want %d (%s)", tc.path, r.Code, tc.want, r.Body.String())
			}
		})
	}

	// A model file that no longer matches its card gets no report.
	if err := os.WriteFile(filepath.Join(reg.Dir("demo-defects", "v1"), models.ModelFile), []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := f.do("GET", "/api/models/demo-defects/v1/report", "", nil); r.Code != 409 {
		t.Errorf("tampered model: %d, want 409", r.Code)
	}
}
