package stationui

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/models"
)

// routeCall is a request that a route answers normally (with the right role).
type routeCall struct {
	path  string
	ctype string
	body  string
	want  int
}

// routeCalls holds one call per route, keyed "METHOD /gin/path". A new
// route must be added here, or TestRouteRoles fails.
var routeCalls = map[string]routeCall{
	"GET /static/*filepath":         {path: "/static/app.css", want: 200},
	"HEAD /static/*filepath":        {path: "/static/app.css", want: 200},
	"GET /":                         {want: 200},
	"GET /sales":                    {want: 200},
	"GET /engineer":                 {want: 200},
	"GET /login":                    {want: 200},
	"GET /healthz":                  {want: 200},
	"GET /metrics":                  {want: 200},
	"GET /api/openapi.json":         {want: 200},
	"POST /api/login":               {ctype: "application/json", body: `{"user":"Anna","password":"anna's password"}`, want: 200},
	"POST /api/logout":              {want: 200},
	"GET /api/session":              {want: 200},
	"GET /api/status":               {want: 200},
	"GET /api/labels":               {want: 200},
	"GET /api/counts":               {want: 200},
	"POST /api/shift":               {want: 200},
	"GET /api/events":               {want: 200},
	"GET /api/stream.mjpg":          {want: 200},
	"POST /api/trigger":             {want: 200},
	"POST /api/classify":            {ctype: "image/png", body: string(smallPNG()), want: 200},
	"GET /api/verdicts":             {want: 200},
	"GET /api/verdicts/:id":         {path: "/api/verdicts/1", want: 200},
	"GET /api/verdicts/:id/image":   {path: "/api/verdicts/1/image", want: 200},
	"GET /api/verdicts/:id/thumb":   {path: "/api/verdicts/1/thumb", want: 200},
	"POST /api/verdicts/:id/review": {path: "/api/verdicts/1/review", ctype: "application/json", body: `{"label":"ok"}`, want: 200},
	"GET /api/export":               {want: 200},
	"GET /api/backup":               {want: 501}, // the in-memory store makes no backups
	"GET /api/models":               {want: 200},
	"GET /api/plc":                  {want: 200},
	"POST /api/models/activate":     {ctype: "application/json", body: `{"name":"flange","version":"v1"}`, want: 200},
	"POST /api/models/rollback":     {want: 200},
	"GET /api/reference":            {want: 200},
	"GET /api/reference/:class":     {path: "/api/reference/bolt", want: 404}, // no catalogue configured
	"GET /api/users":                {want: 200},
	"GET /api/audit":                {want: 200},
	"GET /api/audit/export":         {want: 200},
	// No catalogue in this fixture: allowed callers get 501.
	"GET /api/catalogue":                      {want: 501},
	"GET /api/catalogue/parts":                {want: 501},
	"POST /api/catalogue/parts":               {ctype: "multipart/form-data; boundary=x", body: "--x--\r\n", want: 501},
	"GET /api/catalogue/parts/:number":        {path: "/api/catalogue/parts/P-1", want: 501},
	"DELETE /api/catalogue/parts/:number":     {path: "/api/catalogue/parts/P-1", want: 501},
	"GET /api/catalogue/photos/:id":           {path: "/api/catalogue/photos/abc", want: 501},
	"POST /api/catalogue/search":              {ctype: "image/png", body: string(smallPNG()), want: 501},
	"GET /api/catalogue/matches":              {want: 501},
	"POST /api/catalogue/matches/:id/confirm": {path: "/api/catalogue/matches/m1/confirm", ctype: "application/json", body: `{"part":""}`, want: 501},
	"POST /api/catalogue/matches/:id/accept":  {path: "/api/catalogue/matches/m1/accept", want: 501},
	// The fixture's in-memory store keeps no statistics counters: the
	// API answers 501, the page shows the error (stats_test.go uses bolt).
	"GET /stats":                   {want: 200},
	"GET /api/stats":               {want: 501},
	"GET /api/stats/export":        {want: 501},
	"GET /api/stats/chart/:kind":   {path: "/api/stats/chart/trend", want: 501},
	"GET /api/monitor":             {want: 200},
	"GET /api/monitor/chart/:kind": {path: "/api/monitor/chart/scores", want: 404}, // no monitor configured
	// The fixture's fake registry cannot serve model files: allowed callers get 501.
	"GET /api/models/:name/:version/report": {path: "/api/models/flange/v1/report", want: 501},
	// No capture manager in this fixture: allowed callers get 501 (capture_test.go has one).
	"GET /capture":                                  {want: 200},
	"GET /api/capture/sessions":                     {want: 501},
	"POST /api/capture/sessions":                    {ctype: "application/json", body: `{"class":"bolt"}`, want: 501},
	"GET /api/capture/sessions/:id":                 {path: "/api/capture/sessions/x", want: 501},
	"POST /api/capture/sessions/:id/press":          {path: "/api/capture/sessions/x/press", want: 501},
	"POST /api/capture/sessions/:id/stop":           {path: "/api/capture/sessions/x/stop", want: 501},
	"POST /api/capture/sessions/:id/resume":         {path: "/api/capture/sessions/x/resume", want: 501},
	"GET /api/capture/sessions/:id/contact.png":     {path: "/api/capture/sessions/x/contact.png", want: 501},
	"GET /api/capture/sessions/:id/frames/:n":       {path: "/api/capture/sessions/x/frames/0", want: 501},
	"DELETE /api/capture/sessions/:id/frames/:n":    {path: "/api/capture/sessions/x/frames/0", want: 501},
	"POST /api/capture/sessions/:id/frames/:n/move": {path: "/api/capture/sessions/x/frames/0/move", ctype: "application/json", body: `{"to":"nut"}`, want: 501},
	"GET /api/capture/dataset":                      {want: 501},
	"GET /api/capture/preview.mjpg":                 {want: 501},
}

// roleFixture is a fixture without kiosk, with one user per role.
func roleFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, func(c *Config) { c.KioskRoles = nil })
	for _, r := range auth.AllRoles {
		if err := f.auth.AddUser(context.Background(), auth.Actor{Name: "test"}, "only-"+string(r), "password of "+string(r), []auth.Role{r}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.st.record(context.Background(), "dent", 0.9); err != nil {
		t.Fatal(err)
	}
	return f
}

// call sends c for route key as the given session ("" for none). Streams
// are cut after a moment: only their status matters here.
func (f *fixture) call(key string, c routeCall, cookie, csrf string) *httptest.ResponseRecorder {
	method, path, _ := strings.Cut(key, " ")
	if c.path != "" {
		path = c.path
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(c.body))
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
	}
	if csrf != "" {
		req.Header.Set(CSRFHeader, csrf)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// TestRouteRoles walks every route the router serves: each must declare
// its access; without a session it answers 401 (a page redirects to the
// login page); with a role it does not allow, 403; with each role it
// allows, what it answered before logins existed.
func TestRouteRoles(t *testing.T) {
	f := roleFixture(t)
	routes := f.srv.engine.Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		t.Run(key, func(t *testing.T) {
			access, ok := f.srv.RouteAccess(rt.Method, rt.Path)
			if !ok {
				t.Fatalf("%s declares no role", key)
			}
			call, ok := routeCalls[key]
			if !ok {
				t.Fatalf("%s has no entry in routeCalls", key)
			}
			page := rt.Method == "GET" && !strings.HasPrefix(rt.Path, "/api/") && !strings.HasPrefix(rt.Path, "/static/") &&
				rt.Path != "/healthz" && rt.Path != "/metrics"

			// No session.
			rec := roleFixture(t).call(key, call, "", "")
			switch {
			case access.IsPublic():
				if rec.Code != call.want {
					t.Errorf("public, no session: %d, want %d (%s)", rec.Code, call.want, rec.Body.String())
				}
			case page:
				if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/login?next=") {
					t.Errorf("page without session: %d to %q, want 303 to the login page", rec.Code, rec.Header().Get("Location"))
				}
			default:
				if rec.Code != http.StatusUnauthorized {
					t.Errorf("no session: %d, want 401 (%s)", rec.Code, rec.Body.String())
				}
			}
			if access.IsPublic() {
				return
			}
			for _, r := range auth.AllRoles {
				p := &auth.Principal{Roles: []auth.Role{r}}
				g := roleFixture(t)
				cookie, csrf := g.login(t, "only-"+string(r), "password of "+string(r))
				rec := g.call(key, call, cookie, csrf)
				if access.Allows(p) {
					if rec.Code != call.want {
						t.Errorf("role %s: %d, want %d (%s)", r, rec.Code, call.want, rec.Body.String())
					}
				} else if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "needs the role") {
					t.Errorf("role %s: %d %s, want 403", r, rec.Code, rec.Body.String())
				}
			}
		})
	}
	for key := range routeCalls {
		method, path, _ := strings.Cut(key, " ")
		if _, ok := f.srv.RouteAccess(method, path); !ok {
			t.Errorf("routeCalls has %s, which is not served", key)
		}
	}
}

// TestCrossSiteActivateRefused is the request: a page on another
// site posts text/plain to /api/models/activate with the engineer's
// cookie. It gets 403 and active.json is not touched.
func TestCrossSiteActivateRefused(t *testing.T) {
	root := t.TempDir()
	active := []byte(`{"name":"flange","version":"v2","history":[{"name":"flange","version":"v1"}]}` + "\n")
	if err := os.WriteFile(filepath.Join(root, models.ActiveFile), active, 0o644); err != nil {
		t.Fatal(err)
	}
	svc, _ := newTestAuth(t)
	store := &memStore{}
	st := newFakeStation(store)
	srv := New(Config{Auth: svc, KioskRoles: []auth.Role{auth.RoleOperator}, Registry: root,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, st, store, nil)
	f := &fixture{srv: srv, st: st, store: store, h: srv.Handler(), auth: svc}
	cookie, csrf := f.login(t, "Anna", "anna's password")
	body := `{"name":"flange","version":"v1"}`
	tests := []struct {
		name         string
		remote, host string
		cookie, csrf string
		header       map[string]string
		want         int
	}{
		{name: "cross-site with the engineer's cookie", cookie: cookie, want: 403,
			header: map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}},
		{name: "cross-site, even with the CSRF token", cookie: cookie, csrf: csrf, want: 403,
			header: map[string]string{"Origin": "http://evil.example", "Content-Type": "application/json"}},
		{name: "Sec-Fetch-Site cross-site", cookie: cookie, csrf: csrf, want: 403,
			header: map[string]string{"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"}},
		{name: "same origin without the CSRF token", cookie: cookie, want: 403,
			header: map[string]string{"Origin": "http://example.com", "Content-Type": "application/json"}},
		{name: "no cookie", want: 401,
			header: map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}},
		{name: "kiosk on the station's screen, cross-site", remote: "127.0.0.1:5000", host: "127.0.0.1:8080", want: 403,
			header: map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}},
		{name: "kiosk from a rebound DNS name", remote: "127.0.0.1:5000", host: "evil.example:8080", want: 401,
			header: map[string]string{"Origin": "http://evil.example:8080", "Content-Type": "application/json"}},
		{name: "same origin, JSON, token, but text/plain", cookie: cookie, csrf: csrf, want: 415,
			header: map[string]string{"Origin": "http://example.com", "Content-Type": "text/plain"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/api/models/activate", strings.NewReader(body))
			if tc.remote != "" {
				req.RemoteAddr, req.Host = tc.remote, tc.host
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tc.cookie})
			}
			if tc.csrf != "" {
				req.Header.Set(CSRFHeader, tc.csrf)
			}
			rec := httptest.NewRecorder()
			f.h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tc.want, rec.Body.String())
			}
			if got, _ := os.ReadFile(filepath.Join(root, models.ActiveFile)); !bytes.Equal(got, active) {
				t.Fatalf("active.json changed to %s", got)
			}
			if len(st.activated) != 0 {
				t.Fatalf("the station swapped models: %v", st.activated)
			}
		})
	}
}

// TestKiosk: the station's own screen reviews without a login, under the
// configured operator name; the client cannot choose another.
func TestKiosk(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Operator = "Station 3" })
	v, _ := f.st.record(context.Background(), "dent", 0.9)
	kiosk := func(method, path, ctype, body, csrf string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr, req.Host = "[::1]:4000", "localhost:8080"
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if csrf != "" {
			req.Header.Set(CSRFHeader, csrf)
		}
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec
	}
	page := kiosk("GET", "/", "", "", "")
	if page.Code != 200 || !strings.Contains(page.Body.String(), f.srv.kioskCSRF) || !strings.Contains(page.Body.String(), "Station 3 (kiosk)") {
		t.Fatalf("kiosk page: %d", page.Code)
	}
	path := fmt.Sprintf("/api/verdicts/%d/review", v.ID)
	if rec := kiosk("POST", path, "application/json", `{"label":"ok"}`, ""); rec.Code != 403 {
		t.Errorf("kiosk review without the page's token: %d", rec.Code)
	}
	if rec := kiosk("POST", path, "application/json", `{"label":"ok"}`, f.srv.kioskCSRF); rec.Code != 200 {
		t.Fatalf("kiosk review: %d %s", rec.Code, rec.Body.String())
	}
	got, _ := f.store.Get(context.Background(), v.ID)
	if got.Review.By != "Station 3" || got.Review.Via != "kiosk" {
		t.Errorf("kiosk review by %q via %q", got.Review.By, got.Review.Via)
	}
	// The kiosk holds only the operator role.
	for _, p := range []string{"/engineer", "/sales"} {
		if rec := kiosk("GET", p, "", "", ""); rec.Code != 403 {
			t.Errorf("kiosk %s: %d, want 403", p, rec.Code)
		}
	}
	if rec := kiosk("GET", "/api/models", "", "", ""); rec.Code != 403 {
		t.Errorf("kiosk /api/models: %d", rec.Code)
	}
	// The engineer page offers the login form, which returns to it.
	if rec := kiosk("GET", "/engineer", "", "", ""); !strings.Contains(rec.Body.String(), `data-next="/engineer"`) || !strings.Contains(rec.Body.String(), `id="login"`) {
		t.Errorf("kiosk /engineer does not offer a login back to it: %s", rec.Body.String())
	}
	// Someone at the station logs in from the kiosk's screen: no page token needed.
	if rec := kiosk("POST", "/api/login", "application/json", `{"user":"Anna","password":"anna's password"}`, ""); rec.Code != 200 {
		t.Errorf("login from the kiosk: %d %s", rec.Code, rec.Body.String())
	}
	// A logged-in user at the station is themselves, not the kiosk.
	req := httptest.NewRequest("GET", "/api/session", nil)
	req.RemoteAddr, req.Host = "127.0.0.1:4000", "127.0.0.1:8080"
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: f.cookie})
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if !strings.Contains(rec.Body.String(), `"user":"Anna","roles":["operator","sales","engineer","admin"],"via":"session"`) {
		t.Errorf("session at the station: %s", rec.Body.String())
	}
}

// TestLoginOverHTTP logs in and out through the API: the cookie's flags,
// the rate limit, and that logout ends the session.
func TestLoginOverHTTP(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.KioskRoles = nil; c.SecureCookies = true })
	post := func(path, body, cookie, csrf string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://example.com")
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
			req.Header.Set(CSRFHeader, csrf)
		}
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec
	}
	if rec := post("/api/login", `{"user":"Anna","password":"wrong password"}`, "", ""); rec.Code != 401 {
		t.Errorf("wrong password: %d", rec.Code)
	}
	rec := post("/api/login", `{"user":"Anna","password":"anna's password"}`, "", "")
	if rec.Code != 200 {
		t.Fatalf("login: %d %s", rec.Code, rec.Body.String())
	}
	var ck *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == SessionCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Expires.IsZero() ||
		time.Until(ck.Expires) > auth.DefaultSessionTTL || ck.Path != "/" {
		t.Fatalf("session cookie %+v", ck)
	}
	var sess sessionResponse
	mustJSON(t, rec.Body.Bytes(), &sess)
	if sess.User != "Anna" || sess.CSRF == "" || sess.Via != auth.ViaSession {
		t.Errorf("login answer %+v", sess)
	}
	if r := f.doAs(ck.Value, "", "GET", "/api/models", "", nil); r.Code != 200 {
		t.Errorf("with the new cookie: %d", r.Code)
	}
	if r := post("/api/logout", "", ck.Value, sess.CSRF); r.Code != 200 || !strings.Contains(r.Header().Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d %q", r.Code, r.Header().Get("Set-Cookie"))
	}
	if r := f.doAs(ck.Value, "", "GET", "/api/models", "", nil); r.Code != 401 {
		t.Errorf("after logout: %d", r.Code)
	}
	// Five failures (the login above reset the count): the next try waits,
	// right password or not.
	for range 5 {
		post("/api/login", `{"user":"Anna","password":"wrong password"}`, "", "")
	}
	rec = post("/api/login", `{"user":"Anna","password":"anna's password"}`, "", "")
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("rate limit: %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// A login from another site is refused before any password is checked.
	req := httptest.NewRequest("POST", "/api/login", strings.NewReader(`{"user":"Anna","password":"anna's password"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "http://evil.example")
	rec = httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Errorf("cross-site login: %d", rec.Code)
	}
	// A page sends the browser to the login page and back.
	if r := f.doAs("", "", "GET", "/engineer?x=1", "", nil); r.Code != 303 || r.Header().Get("Location") != "/login?next=%2Fengineer%3Fx%3D1" {
		t.Errorf("redirect: %d %q", r.Code, r.Header().Get("Location"))
	}
	for next, want := range map[string]string{"/engineer": "/engineer", "//evil.example": "/", "https://evil.example": "/", "/\\evil": "/"} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

// TestBearerTokens: a machine's token works without CSRF token, within its
// roles, until revoked.
func TestBearerTokens(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.KioskRoles = nil })
	ctx := context.Background()
	secret, tok, err := f.auth.CreateToken(ctx, auth.Actor{Name: "test"}, "line3", []auth.Role{auth.RoleSales})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, authz string, body []byte) int {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", authz)
		req.Header.Set("Content-Type", "image/png")
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := do("POST", "/api/classify", "Bearer "+secret, smallPNG()); c != 200 {
		t.Errorf("classify with token: %d", c)
	}
	if c := do("GET", "/api/export", "Bearer "+secret, nil); c != 403 {
		t.Errorf("export with a sales token: %d", c)
	}
	if c := do("GET", "/api/reference", "Basic "+secret, nil); c != 401 {
		t.Errorf("Basic scheme: %d", c)
	}
	if c := do("GET", "/api/reference", "Bearer ppt_wrong", nil); c != 401 {
		t.Errorf("wrong token: %d", c)
	}
	f.auth.RevokeToken(ctx, auth.Actor{Name: "test"}, tok.ID)
	if c := do("GET", "/api/reference", "Bearer "+secret, nil); c != 401 {
		t.Errorf("revoked token: %d", c)
	}
}

// TestAuditedActions: activation, rollback, shift reset, export and the
// audit export show up in the audit log with who and from where, for
// admins only.
func TestAuditedActions(t *testing.T) {
	f := newFixture(t, nil)
	f.do("POST", "/api/models/activate", "application/json", []byte(`{"name":"flange","version":"v1"}`))
	f.st.activateErr = fmt.Errorf("open: %w", inspector.ErrModelShape)
	f.do("POST", "/api/models/activate", "application/json", []byte(`{"name":"flange","version":"v2"}`))
	f.st.activateErr = nil
	f.do("POST", "/api/models/rollback", "", nil)
	f.do("POST", "/api/shift", "", nil)
	f.do("GET", "/api/export?format=json", "", nil)
	if r := f.do("GET", "/api/audit/export?format=csv", "", nil); r.Code != 200 || !strings.HasPrefix(r.Body.String(), "id,time,actor,via,addr,action") {
		t.Errorf("audit export: %d %q", r.Code, r.Body.String())
	}
	rec := f.do("GET", "/api/audit", "", nil)
	var got struct{ Events []auth.Event }
	mustJSON(t, rec.Body.Bytes(), &got)
	var lines []string
	for _, e := range slices.Backward(got.Events) {
		if e.Action == auth.ActionUserAdd {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %s %s %v", e.Action, e.Actor, e.Via, e.Addr, e.Target, e.OK))
	}
	want := []string{
		"login Anna session 192.0.2.1  true",
		"model.activate Anna session 192.0.2.1 flange/v1 true",
		"model.activate Anna session 192.0.2.1 flange/v2 false",
		"model.rollback Anna session 192.0.2.1 flange/v2 true",
		"shift.reset Anna session 192.0.2.1  true",
		"verdicts.export Anna session 192.0.2.1 format=json true",
		"audit.export Anna session 192.0.2.1  true",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// An engineer without admin cannot read it.
	f.auth.AddUser(context.Background(), auth.Actor{Name: "test"}, "ben", "ben's password", []auth.Role{auth.RoleEngineer})
	cookie, _ := f.login(t, "ben", "ben's password")
	if r := f.doAs(cookie, "", "GET", "/api/audit", "", nil); r.Code != 403 {
		t.Errorf("engineer reads the audit log: %d", r.Code)
	}
	var us usersResponse
	mustJSON(t, f.do("GET", "/api/users", "", nil).Body.Bytes(), &us)
	if len(us.Users) != 2 || strings.Contains(fmt.Sprint(us), "$2a$") {
		t.Errorf("users %+v", us)
	}
}
