package stationui

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/inspector/auth/authtest"
	"github.com/pruefplatz/pruefplatz/models"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

type fixture struct {
	srv   *Server
	st    *fakeStation
	store *memStore
	reg   *fakeModels
	h     http.Handler
	// auth and users are the fixture's user service and its store; do
	// sends the session of "Anna", who holds every role.
	auth  *auth.Service
	users *authtest.MemStore
	// cookie and csrf are Anna's session secret and CSRF token.
	cookie, csrf string
}

// newTestAuth is a user service in memory with cheap hashing and the
// user Anna holding every role.
func newTestAuth(t testing.TB) (*auth.Service, *authtest.MemStore) {
	t.Helper()
	users := &authtest.MemStore{}
	svc := auth.NewService(users, bcrypt.MinCost, nil)
	svc.Hasher = &memoHasher{Hasher: svc.Hasher}
	svc.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := svc.AddUser(context.Background(), auth.Actor{Name: "test"}, "Anna", "anna's password", auth.AllRoles); err != nil {
		t.Fatal(err)
	}
	return svc, users
}

// memoHasher remembers the real bcrypt's answers across fixtures:
// TestRouteRoles builds a fresh fixture for every route and role, and
// hashing the same few passwords again made it the package's slowest test
// under the race detector. Hashing itself is tested in inspector/auth.
type memoHasher struct{ auth.Hasher }

var (
	memoHashes   sync.Map // password → hash
	memoCompares sync.Map // hash + "\x00" + password → error
)

func (m *memoHasher) Hash(password string) ([]byte, error) {
	if h, ok := memoHashes.Load(password); ok {
		return h.([]byte), nil
	}
	h, err := m.Hasher.Hash(password)
	if err == nil {
		memoHashes.Store(password, h)
	}
	return h, err
}

func (m *memoHasher) Compare(hash []byte, password string) error {
	key := string(hash) + "\x00" + password
	if err, ok := memoCompares.Load(key); ok {
		e, _ := err.(error)
		return e
	}
	err := m.Hasher.Compare(hash, password)
	memoCompares.Store(key, err)
	return err
}

func newFixture(t testing.TB, mod func(*Config)) *fixture {
	t.Helper()
	store := &memStore{}
	st := newFakeStation(store)
	svc, users := newTestAuth(t)
	cfg := Config{Operator: "Anna", MaxUpload: 1 << 20, MaxPixels: 4_000_000,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Auth:   svc, KioskRoles: []auth.Role{auth.RoleOperator}}
	if mod != nil {
		mod(&cfg)
	}
	reg := &fakeModels{
		cards: []*models.Card{{Name: "flange", Version: "v1", Labels: st.labels}, {Name: "flange", Version: "v2", Labels: st.labels}},
		active: &models.Active{Name: "flange", Version: "v2",
			History: []models.ModelKey{{Name: "flange", Version: "v1"}}},
	}
	srv := New(cfg, st, store, reg)
	f := &fixture{srv: srv, st: st, store: store, reg: reg, h: srv.Handler(), auth: svc, users: users}
	f.cookie, f.csrf = f.login(t, "Anna", "anna's password")
	return f
}

// login opens a session through the service and returns its cookie secret and CSRF token.
func (f *fixture) login(t testing.TB, user, password string) (string, string) {
	t.Helper()
	secret, sess, err := f.auth.Login(context.Background(), user, password, "192.0.2.1")
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return secret, sess.CSRF
}

// do sends a request as Anna's browser: her session cookie, and on
// state-changing requests her CSRF token.
func (f *fixture) do(method, path, ctype string, body []byte) *httptest.ResponseRecorder {
	return f.doAs(f.cookie, f.csrf, method, path, ctype, body)
}

// doAs sends a request with a session cookie (none when empty) and CSRF token.
func (f *fixture) doAs(cookie, csrf, method, path, ctype string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	}
	if csrf != "" && method != "GET" {
		req.Header.Set(CSRFHeader, csrf)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func multipartBody(t testing.TB, field string, data []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	fw, err := w.CreateFormFile(field, "photo.jpg")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// hugePNG is a valid PNG header claiming w×h pixels with no pixel data.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func smallPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func TestAPIStatuses(t *testing.T) {
	good := testJPEG(40, 30, color.RGBA{10, 100, 10, 255})
	mp, mpType := multipartBody(t, "image", good)
	mpWrong, mpWrongType := multipartBody(t, "photo", good)
	mpEmpty, mpEmptyType := multipartBody(t, "image", nil)
	big := bytes.Repeat([]byte{0xff}, 1<<20+1)
	mpBig, mpBigType := multipartBody(t, "image", big)

	tests := []struct {
		name   string
		method string
		path   string
		ctype  string
		body   []byte
		want   int
		check  func(t *testing.T, f *fixture, body []byte)
	}{
		{name: "healthz", method: "GET", path: "/healthz", want: 200},
		{name: "operator page", method: "GET", path: "/", want: 200, check: contains(`data-stream="/api/stream.mjpg"`, "Anna")},
		{name: "sales page", method: "GET", path: "/sales", want: 200, check: contains("/static/sales.js")},
		{name: "engineer page", method: "GET", path: "/engineer", want: 200, check: contains("/api/backup")},
		{name: "static css", method: "GET", path: "/static/app.css", want: 200, check: contains("--ok")},
		{name: "static missing", method: "GET", path: "/static/nope.js", want: 404},
		{name: "status", method: "GET", path: "/api/status", want: 200, check: contains(`"source_state":"live"`, `"operator":"Anna"`)},
		{name: "labels", method: "GET", path: "/api/labels", want: 200, check: contains(`"labels":["ok","scratch","dent","crack"]`, `"ok_labels":["ok"]`)},
		{name: "classify raw jpeg", method: "POST", path: "/api/classify", ctype: "image/jpeg", body: good, want: 200,
			check: func(t *testing.T, f *fixture, b []byte) {
				var v inspector.Verdict
				mustJSON(t, b, &v)
				if len(v.TopK) != 3 || v.TopK[0].Label != "ok" {
					t.Errorf("top-k %+v", v.TopK)
				}
				if n := len(f.store.vs); n != 0 {
					t.Errorf("stored %d verdicts without store=true", n)
				}
			}},
		{name: "classify multipart stored", method: "POST", path: "/api/classify?store=true", ctype: mpType, body: mp, want: 200,
			check: func(t *testing.T, f *fixture, b []byte) {
				if n := len(f.store.vs); n != 1 {
					t.Errorf("stored %d verdicts, want 1", n)
				}
			}},
		{name: "classify png", method: "POST", path: "/api/classify", body: smallPNG(), want: 200},
		{name: "classify bad store flag", method: "POST", path: "/api/classify?store=maybe", body: good, want: 400, check: contains("store")},
		{name: "classify zero bytes", method: "POST", path: "/api/classify", body: nil, want: 400, check: contains("empty upload")},
		{name: "classify multipart empty file", method: "POST", path: "/api/classify", ctype: mpEmptyType, body: mpEmpty, want: 400, check: contains("empty")},
		{name: "classify multipart wrong field", method: "POST", path: "/api/classify", ctype: mpWrongType, body: mpWrong, want: 400, check: contains(`no field \"image\"`)},
		{name: "classify broken multipart", method: "POST", path: "/api/classify", ctype: "multipart/form-data; boundary=xyz", body: []byte("garbage"), want: 400},
		{name: "classify text file", method: "POST", path: "/api/classify", body: []byte("hello, not an image"), want: 400, check: contains("not a decodable image")},
		{name: "classify truncated jpeg", method: "POST", path: "/api/classify", body: good[:len(good)/2], want: 400, check: contains("not a decodable image")},
		{name: "classify corrupt jpeg", method: "POST", path: "/api/classify", body: append(good[:20:20], bytes.Repeat([]byte{0x42}, 400)...), want: 400},
		{name: "classify too large raw", method: "POST", path: "/api/classify", body: big, want: 413, check: contains("too large")},
		{name: "classify too large multipart", method: "POST", path: "/api/classify", ctype: mpBigType, body: mpBig, want: 413},
		{name: "classify huge dimensions", method: "POST", path: "/api/classify", body: hugePNG(100000, 100000), want: 413, check: contains("100000x100000")},
		{name: "trigger", method: "POST", path: "/api/trigger", want: 200, check: contains(`"label":"scratch"`, `"outcome":"nok"`)},
		{name: "list", method: "GET", path: "/api/verdicts", want: 200, check: contains(`"verdicts":[`)},
		{name: "list bad from", method: "GET", path: "/api/verdicts?from=yesterday", want: 400, check: contains("RFC 3339")},
		{name: "list bad outcome", method: "GET", path: "/api/verdicts?outcome=great", want: 400},
		{name: "list bad limit", method: "GET", path: "/api/verdicts?limit=-1", want: 400},
		{name: "list limit too big", method: "GET", path: "/api/verdicts?limit=100000", want: 400},
		{name: "list bad before", method: "GET", path: "/api/verdicts?before=x", want: 400},
		{name: "get missing", method: "GET", path: "/api/verdicts/999", want: 404},
		{name: "get bad id", method: "GET", path: "/api/verdicts/abc", want: 400},
		{name: "get zero id", method: "GET", path: "/api/verdicts/0", want: 400},
		{name: "image missing", method: "GET", path: "/api/verdicts/999/image", want: 404},
		{name: "thumb missing", method: "GET", path: "/api/verdicts/999/thumb", want: 404},
		{name: "review missing", method: "POST", path: "/api/verdicts/999/review", ctype: "application/json", body: []byte(`{"label":"ok"}`), want: 404},
		{name: "review bad json", method: "POST", path: "/api/verdicts/1/review", ctype: "application/json", body: []byte(`{"label":`), want: 400},
		{name: "review unknown field", method: "POST", path: "/api/verdicts/1/review", ctype: "application/json", body: []byte(`{"lable":"ok"}`), want: 400},
		{name: "export bad format", method: "GET", path: "/api/export?format=xml", want: 400},
		{name: "export csv", method: "GET", path: "/api/export?format=csv", want: 200, check: contains("id,time,source")},
		{name: "export json", method: "GET", path: "/api/export?format=json", want: 200, check: contains("[")},
		{name: "backup unsupported", method: "GET", path: "/api/backup", want: 501},
		{name: "models", method: "GET", path: "/api/models", want: 200, check: contains(`"version":"v1"`, `"active":{"name":"flange","version":"v2"`)},
		{name: "activate", method: "POST", path: "/api/models/activate", ctype: "application/json", body: []byte(`{"name":"flange","version":"v1"}`), want: 200,
			check: func(t *testing.T, f *fixture, b []byte) {
				if strings.Join(f.st.activated, ",") != "flange/v1" {
					t.Errorf("activated %v", f.st.activated)
				}
				if a, _ := f.reg.ReadActive(); a.Version != "v1" || len(a.History) != 2 {
					t.Errorf("registry after activate: %+v", a)
				}
			}},
		{name: "activate bad body", method: "POST", path: "/api/models/activate", ctype: "application/json", body: []byte(`{"name":"flange"}`), want: 400},
		{name: "activate unknown", method: "POST", path: "/api/models/activate", ctype: "application/json", body: []byte(`{"name":"flange","version":"v9"}`), want: 404},
		{name: "rollback", method: "POST", path: "/api/models/rollback", want: 200,
			check: func(t *testing.T, f *fixture, b []byte) {
				contains(`"version":"v1"`)(t, f, b)
				if a, _ := f.reg.ReadActive(); a.Version != "v1" || len(a.History) != 0 {
					t.Errorf("registry after rollback: %+v", a)
				}
			}},
		{name: "reference unconfigured", method: "GET", path: "/api/reference/bolt", want: 404},
		{name: "reference traversal", method: "GET", path: "/api/reference/..", want: 400},
		{name: "reference list", method: "GET", path: "/api/reference", want: 200, check: contains(`"classes":[]`)},
		{name: "counts", method: "GET", path: "/api/counts", want: 200, check: contains(`"total":0`)},
		{name: "openapi", method: "GET", path: "/api/openapi.json", want: 200, check: contains(`"openapi"`)},
		{name: "metrics", method: "GET", path: "/metrics", want: 200, check: contains("pruefplatz_fps 15", "pruefplatz_frames_total")},
		{name: "unknown route", method: "GET", path: "/api/nope", want: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			rec := f.do(tc.method, tc.path, tc.ctype, tc.body)
			if rec.Code != tc.want {
				t.Fatalf("%s %s: status %d, want %d; body %.300s", tc.method, tc.path, rec.Code, tc.want, rec.Body.String())
			}
			if rec.Code >= 400 && rec.Code != 404 || strings.HasPrefix(tc.path, "/api/") && rec.Code >= 400 {
				var e struct{ Error string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Errorf("error body is not {\"error\": …}: %.200s", rec.Body.String())
				}
			}
			if tc.check != nil {
				tc.check(t, f, rec.Body.Bytes())
			}
		})
	}
}

func contains(subs ...string) func(t *testing.T, f *fixture, body []byte) {
	return func(t *testing.T, _ *fixture, body []byte) {
		t.Helper()
		for _, s := range subs {
			if !bytes.Contains(body, []byte(s)) {
				t.Errorf("body lacks %q: %.400s", s, body)
			}
		}
	}
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %.200s: %v", b, err)
	}
}

func TestHTTPStatusMapping(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"not found", fmt.Errorf("verdict 3: %w", inspector.ErrNotFound), 404},
		{"no model", fmt.Errorf("x: %w", models.ErrNoModel), 404},
		{"bad image", fmt.Errorf("%w: truncated", inspector.ErrBadImage), 400},
		{"too large", inspector.ErrImageTooLarge, 413},
		{"max bytes", &http.MaxBytesError{Limit: 5}, 413},
		{"bad request", badRequest("limit"), 400},
		{"no history", models.ErrNoHistory, 409},
		{"refused model", fmt.Errorf("%w: shape", errConflict), 409},
		{"unavailable", errUnavailable, 501},
		{"other", errors.New("disk on fire"), 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := httpStatus(tc.err); got != tc.want {
				t.Errorf("httpStatus(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestServerErrorIsLoggedNotLeaked(t *testing.T) {
	var logs bytes.Buffer
	f := newFixture(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	f.store.failList = errors.New("secret path /opt/x exploded")
	rec := f.do("GET", "/api/verdicts", "", nil)
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("status %d body %s", rec.Code, rec.Body.String())
	}
	if !strings.Contains(logs.String(), "secret path") {
		t.Errorf("error not logged: %s", logs.String())
	}
}

func TestRefusedModelKeepsRegistry(t *testing.T) {
	f := newFixture(t, nil)
	f.st.activateErr = fmt.Errorf("open: %w", inspector.ErrModelShape)
	rec := f.do("POST", "/api/models/activate", "application/json", []byte(`{"name":"flange","version":"v1"}`))
	if rec.Code != 409 || !strings.Contains(rec.Body.String(), "does not match") {
		t.Errorf("shape mismatch: status %d %s, want 409 with the reason", rec.Code, rec.Body.String())
	}
	if a, _ := f.reg.ReadActive(); a.Version != "v2" {
		t.Errorf("registry recorded a refused model: %+v", a)
	}
	if rec := f.do("POST", "/api/models/rollback", "", nil); rec.Code != 409 {
		t.Errorf("refused rollback: %d", rec.Code)
	}
	if a, _ := f.reg.ReadActive(); a.Version != "v2" || len(a.History) != 1 {
		t.Errorf("registry after refused rollback: %+v", a)
	}
	f.st.activateErr = nil
	f.do("POST", "/api/models/rollback", "", nil)
	if rec := f.do("POST", "/api/models/rollback", "", nil); rec.Code != 409 || !strings.Contains(rec.Body.String(), "no earlier") {
		t.Errorf("rollback without history: %d %s", rec.Code, rec.Body.String())
	}
}

func TestReviewStoresAndDerivesOutcome(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	v, _ := f.st.record(ctx, "scratch", 0.9)
	tests := []struct {
		name      string
		body      string
		want      int
		outcome   inspector.Outcome
		by        string
		confirmed bool
	}{
		{"confirm machine label", `{"label":"scratch"}`, 200, inspector.OutcomeNOK, "Anna", true},
		{"override to ok", `{"label":"ok","comment":" burr only "}`, 200, inspector.OutcomeOK, "Anna", false},
		{"the client cannot name the reviewer", `{"label":"dent","by":"Ben"}`, 400, "", "", false},
		{"text/plain", `{"label":"dent"}`, 415, "", "", false},
		{"unknown label", `{"label":"banana"}`, 400, "", "", false},
		{"empty label", `{"label":"  "}`, 400, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctype := "application/json"
			if strings.HasPrefix(tc.name, "text/") {
				ctype = "text/plain"
			}
			rec := f.do("POST", fmt.Sprintf("/api/verdicts/%d/review", v.ID), ctype, []byte(tc.body))
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body.String())
			}
			if tc.want != 200 {
				return
			}
			got, _ := f.store.Get(ctx, v.ID)
			r := got.Review
			if r == nil || r.Outcome != tc.outcome || r.By != tc.by || r.Confirmed != tc.confirmed || r.At.IsZero() {
				t.Errorf("review %+v", r)
			}
		})
	}
	got, _ := f.store.Get(ctx, v.ID)
	if got.Review.Comment != "burr only" {
		t.Errorf("comment %q", got.Review.Comment)
	}
	// Counts follow the review: the NOK verdict now counts as OK.
	rec := f.do("GET", "/api/counts", "", nil)
	var c countsResponse
	mustJSON(t, rec.Body.Bytes(), &c)
	if c.OK != 1 || c.NOK != 0 || c.Total != 1 {
		t.Errorf("counts %+v", c)
	}
}

func TestPartsModelReviewIsClass(t *testing.T) {
	f := newFixture(t, nil)
	f.st.labels, f.st.ok = []string{"bolt", "nut", "washer"}, nil
	v, _ := f.st.record(context.Background(), "nut", 0.5)
	rec := f.do("POST", fmt.Sprintf("/api/verdicts/%d/review", v.ID), "application/json", []byte(`{"label":"washer"}`))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"outcome":"class"`) {
		t.Errorf("status %d %s", rec.Code, rec.Body.String())
	}
}

func TestListPagingAndFilters(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	base := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for i := range 7 {
		f.st.now = func() time.Time { return base.Add(time.Duration(i) * time.Minute) }
		label := "ok"
		if i%2 == 1 {
			label = "dent"
		}
		f.st.record(ctx, label, 0.95)
	}
	page := func(q string) listResponse {
		rec := f.do("GET", "/api/verdicts?"+q, "", nil)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", q, rec.Code, rec.Body.String())
		}
		var r listResponse
		mustJSON(t, rec.Body.Bytes(), &r)
		return r
	}
	p1 := page("limit=3")
	if len(p1.Verdicts) != 3 || p1.Verdicts[0].ID != 7 || p1.Next != 5 {
		t.Fatalf("page 1: %d verdicts, first %d, next %d", len(p1.Verdicts), p1.Verdicts[0].ID, p1.Next)
	}
	p3 := page("limit=3&before=2")
	if len(p3.Verdicts) != 1 || p3.Verdicts[0].ID != 1 || p3.Next != 0 {
		t.Fatalf("last page %+v", p3)
	}
	if r := page("outcome=nok"); len(r.Verdicts) != 3 {
		t.Errorf("nok: %d", len(r.Verdicts))
	}
	if r := page("label=ok&from=" + base.Add(2*time.Minute).Format(time.RFC3339) + "&to=" + base.Add(5*time.Minute).Format(time.RFC3339)); len(r.Verdicts) != 2 {
		t.Errorf("label+time window: %d", len(r.Verdicts))
	}
	rec := f.do("GET", "/api/export?format=csv&outcome=nok", "", nil)
	if lines := strings.Count(rec.Body.String(), "\n"); lines != 4 || !strings.Contains(rec.Header().Get("Content-Disposition"), ".csv") {
		t.Errorf("csv export: %d lines, %q", lines, rec.Header().Get("Content-Disposition"))
	}
}

func TestVerdictImages(t *testing.T) {
	f := newFixture(t, nil)
	v, _ := f.st.record(context.Background(), "ok", 0.99)
	for _, p := range []string{"image", "thumb"} {
		rec := f.do("GET", fmt.Sprintf("/api/verdicts/%d/%s", v.ID, p), "", nil)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/jpeg" {
			t.Fatalf("%s: %d %s", p, rec.Code, rec.Header().Get("Content-Type"))
		}
		cfg, _, err := image.DecodeConfig(rec.Body)
		if err != nil || (p == "thumb") != (cfg.Width == 32) {
			t.Errorf("%s: %v %dx%d", p, err, cfg.Width, cfg.Height)
		}
	}
}

func TestBackupAndReference(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bolt"), 0o755)
	os.WriteFile(filepath.Join(dir, "bolt", "b.jpg"), []byte("second"), 0o644)
	os.WriteFile(filepath.Join(dir, "bolt", "a.jpg"), testJPEG(8, 8, color.RGBA{1, 2, 3, 255}), 0o644)
	os.MkdirAll(filepath.Join(dir, "empty"), 0o755)
	store := &memStore{}
	st := newFakeStation(store)
	svc, users := newTestAuth(t)
	srv := New(Config{ReferenceImages: dir, Auth: svc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, st, backupStore{store}, nil)
	f := &fixture{srv: srv, st: st, store: store, h: srv.Handler(), auth: svc, users: users}
	f.cookie, f.csrf = f.login(t, "Anna", "anna's password")

	rec := f.do("GET", "/api/backup", "", nil)
	if rec.Code != 200 || rec.Body.String() != "BOLTDB-COPY" || !strings.Contains(rec.Header().Get("Content-Disposition"), ".db") {
		t.Errorf("backup: %d %q %q", rec.Code, rec.Body.String(), rec.Header().Get("Content-Disposition"))
	}
	rec = f.do("GET", "/api/reference/bolt", "", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Errorf("reference: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := f.do("GET", "/api/reference/empty", "", nil); rec.Code != 404 {
		t.Errorf("class without image: %d", rec.Code)
	}
	if rec := f.do("GET", "/api/reference", "", nil); !strings.Contains(rec.Body.String(), `"classes":["bolt"]`) {
		t.Errorf("reference list: %s", rec.Body.String())
	}
	if rec := f.do("POST", "/api/models/rollback", "", nil); rec.Code != 501 {
		t.Errorf("rollback without registry: %d", rec.Code)
	}
	if rec := f.do("GET", "/api/models", "", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"models":[]`) {
		t.Errorf("models without registry: %d %s", rec.Code, rec.Body.String())
	}
}

func TestNewShiftResetsCounts(t *testing.T) {
	now := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	f := newFixture(t, func(c *Config) { c.Now = clock })
	f.st.now = clock
	f.st.record(context.Background(), "ok", 0.99)
	f.st.record(context.Background(), "crack", 0.99)
	var c countsResponse
	mustJSON(t, f.do("GET", "/api/counts", "", nil).Body.Bytes(), &c)
	if c.OK != 1 || c.NOK != 1 || c.Total != 2 {
		t.Fatalf("before: %+v", c)
	}
	now = now.Add(time.Hour)
	mustJSON(t, f.do("POST", "/api/shift", "", nil).Body.Bytes(), &c)
	if c.Total != 0 || !c.ShiftStart.Equal(now) {
		t.Errorf("after new shift: %+v", c)
	}
}

// TestReviewNotifiesIntegrations: a stored review is published through the
// station (whose Notify feeds MQTT and webhooks) with its effective result;
// a failed one is not, and the integrations' collectors are served on
// /metrics.
func TestReviewNotifiesIntegrations(t *testing.T) {
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "pruefplatz_test_integration_gauge", Help: "test"})
	gauge.Set(42)
	f := newFixture(t, func(c *Config) {
		c.Collectors = []prometheus.Collector{gauge}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := f.st.Subscribe(ctx)
	var got []inspector.Event
	drain := func() {
		for {
			select {
			case e := <-events:
				got = append(got, e)
			default:
				return
			}
		}
	}
	v, _ := f.st.record(context.Background(), "scratch", 0.9)
	drain()
	got = nil // the verdict's own event
	if rec := f.do("POST", fmt.Sprintf("/api/verdicts/%d/review", v.ID), "application/json", []byte(`{"label":"nope"}`)); rec.Code != 400 {
		t.Fatalf("bad label: %d", rec.Code)
	}
	drain()
	if len(got) != 0 {
		t.Fatalf("a refused review was notified: %+v", got)
	}
	if rec := f.do("POST", fmt.Sprintf("/api/verdicts/%d/review", v.ID), "application/json", []byte(`{"label":"ok"}`)); rec.Code != 200 {
		t.Fatalf("review: %d %s", rec.Code, rec.Body.String())
	}
	drain()
	if len(got) != 1 || got[0].Kind != inspector.EventReview || got[0].Verdict == nil || got[0].Verdict.Review == nil || got[0].Verdict.Review.By != "Anna" {
		t.Fatalf("notified %+v", got)
	}
	rec := f.do("GET", "/metrics", "", nil)
	if !strings.Contains(rec.Body.String(), "pruefplatz_test_integration_gauge 42") {
		t.Errorf("integration collector not on /metrics (%d)", rec.Code)
	}
}

func TestPLCStatus(t *testing.T) {
	off := newFixture(t, nil)
	if rec := off.do("GET", "/api/plc", "", nil); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"enabled":false}` {
		t.Errorf("without a PLC: %d %s", rec.Code, rec.Body.String())
	}
	on := newFixture(t, func(c *Config) {
		c.PLC = func() any {
			return map[string]any{"mode": "server", "registers": []map[string]any{{"name": "part_ready", "value": 1}}}
		}
	})
	rec := on.do("GET", "/api/plc", "", nil)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"enabled":true`) || !strings.Contains(rec.Body.String(), `"part_ready"`) {
		t.Errorf("with a PLC: %d %s", rec.Code, rec.Body.String())
	}
}
