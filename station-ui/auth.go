package stationui

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector/auth"
)

// SessionCookie is the login cookie's name.
const SessionCookie = "pruefplatz_session"

// CSRFHeader carries the page's CSRF token on state-changing requests.
const CSRFHeader = "X-CSRF-Token"

// principalKey is where guard leaves the caller in the gin context.
const principalKey = "pruefplatz.principal"

// Request errors of access control, mapped in httpStatus.
var (
	// errCrossSite marks a state-changing browser request that is not
	// provably from this station's own pages.
	errCrossSite = errors.New("cross-site request refused")
	// errMediaType marks a JSON endpoint called with another content type.
	errMediaType = errors.New("unsupported content type")
)

// routeInfo is what a route declares: who may call it, and whether it is a
// page (which sends an anonymous browser to the login page instead of 401).
type routeInfo struct {
	access auth.Access
	page   bool
}

// handle registers a route with its access rule. Every route goes through
// here, so none can exist without one (TestRouteRoles checks).
func (s *Server) handle(r gin.IRoutes, method, path string, a auth.Access, h gin.HandlerFunc) {
	s.declare(method, path, routeInfo{access: a})
	r.Handle(method, path, s.guard(routeInfo{access: a}), h)
}

// handlePage registers an HTML page.
func (s *Server) handlePage(r gin.IRoutes, path string, a auth.Access, h gin.HandlerFunc) {
	ri := routeInfo{access: a, page: true}
	s.declare(http.MethodGet, path, ri)
	r.Handle(http.MethodGet, path, s.guard(ri), h)
}

func (s *Server) declare(method, path string, ri routeInfo) {
	k := method + " " + path
	if _, dup := s.routeAccess[k]; dup {
		panic("route declared twice: " + k)
	}
	s.routeAccess[k] = ri
}

// RouteAccess returns the access rule of a registered route (method and
// Gin path such as "/api/verdicts/:id"), and false for an unknown one.
func (s *Server) RouteAccess(method, path string) (auth.Access, bool) {
	ri, ok := s.routeAccess[method+" "+path]
	return ri.access, ok
}

// guard authenticates the caller, refuses cross-site state changes and
// checks the route's roles, in that order: 401 without a login (a page
// redirects to /login), 403 for a cross-site request or a missing role.
func (s *Server) guard(ri routeInfo) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := s.authenticate(c)
		if err != nil {
			s.fail(c, err)
			return
		}
		if p != nil {
			c.Set(principalKey, p)
		}
		if !ri.access.Allows(p) && p == nil {
			if ri.page {
				c.Header("Cache-Control", "no-store")
				c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
				c.Abort()
				return
			}
			s.fail(c, fmt.Errorf("%w: log in first", auth.ErrUnauthenticated))
			return
		}
		if unsafeMethod(c.Request.Method) {
			// A public state change (the login) has no session to protect
			// yet, so it gets the origin check only; the kiosk's screen
			// must be able to log in without a page token.
			csrfOf := p
			if ri.access.IsPublic() {
				csrfOf = nil
			}
			if err := s.checkSameSite(c, csrfOf); err != nil {
				s.fail(c, err)
				return
			}
		}
		if !ri.access.Allows(p) {
			err := fmt.Errorf("%w: %s needs the role %s; you are %s (%s)", auth.ErrForbidden,
				c.FullPath(), strings.Join(ri.access.Names(), " or "), p.Name, auth.JoinRoles(p.Roles))
			if ri.page {
				c.Header("Cache-Control", "no-store")
				d := s.pageData(c, safeNext(c.Request.URL.RequestURI()), "")
				d.Message = d.T("error."+errorCode(err, http.StatusForbidden)) + " — " + err.Error()
				c.HTML(http.StatusForbidden, "login.html", d)
				c.Abort()
				return
			}
			s.fail(c, err)
			return
		}
		c.Next()
	}
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// authenticate finds the caller: a bearer token (for machines), else a
// session cookie, else the kiosk. A bearer token that does not check out
// is refused rather than ignored, so a machine learns its token is bad.
func (s *Server) authenticate(c *gin.Context) (*auth.Principal, error) {
	ctx := c.Request.Context()
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || s.cfg.Auth == nil {
			return nil, fmt.Errorf("%w: only Bearer tokens are accepted", auth.ErrUnauthenticated)
		}
		p, err := s.cfg.Auth.AuthenticateToken(ctx, strings.TrimSpace(tok))
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	if ck, err := c.Cookie(SessionCookie); err == nil && ck != "" && s.cfg.Auth != nil {
		p, err := s.cfg.Auth.Authenticate(ctx, ck)
		switch {
		case err == nil:
			return p, nil
		case !errors.Is(err, auth.ErrUnauthenticated):
			return nil, err
		}
		// An expired or revoked cookie: forget it and carry on as anonymous.
		s.clearCookie(c)
	}
	if s.kiosk(c.Request) {
		return &auth.Principal{Name: s.cfg.Operator, Roles: s.cfg.KioskRoles, Via: auth.ViaKiosk, CSRF: s.kioskCSRF}, nil
	}
	return nil, nil
}

// kiosk reports whether r may use the kiosk roles without a login: it comes
// from the loopback interface and names a loopback host. The host check
// stops DNS rebinding: a web page on evil.example whose name later
// resolves to 127.0.0.1 sends Host: evil.example and gets no kiosk.
func (s *Server) kiosk(r *http.Request) bool {
	if len(s.cfg.KioskRoles) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return false
	}
	return isLoopbackHost(r.Host)
}

func isLoopbackHost(hostport string) bool {
	h := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// checkSameSite refuses a state-changing request that a browser may have
// sent on another site's behalf. Callers with ambient credentials (a
// session cookie, the kiosk's loopback address) must send the page's CSRF
// token in X-CSRF-Token, which another site cannot read, and the browser's
// Sec-Fetch-Site or Origin must not name another site. Bearer tokens are
// never sent by a browser on its own, so they need neither. The login
// itself has no token yet and relies on the origin check.
func (s *Server) checkSameSite(c *gin.Context, p *auth.Principal) error {
	if p != nil && p.Via == auth.ViaToken {
		return nil
	}
	r := c.Request
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return fmt.Errorf("%w: Sec-Fetch-Site %s", errCrossSite, sfs)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || !strings.EqualFold(u.Host, r.Host) {
			return fmt.Errorf("%w: Origin %s is not this station (%s)", errCrossSite, o, r.Host)
		}
	}
	if p == nil {
		return nil
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || p.CSRF == "" || subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) != 1 {
		return fmt.Errorf("%w: missing or wrong %s", errCrossSite, CSRFHeader)
	}
	return nil
}

// principal is the caller guard found (nil on public routes without one).
func principal(c *gin.Context) *auth.Principal {
	if v, ok := c.Get(principalKey); ok {
		return v.(*auth.Principal)
	}
	return nil
}

// actor is the caller for the audit log.
func actor(c *gin.Context) auth.Actor { return auth.ActorOf(principal(c), c.ClientIP()) }

// audit records a security-relevant action; without an auth service there
// is no log to write to. A failed write is logged by the service.
func (s *Server) audit(c *gin.Context, action auth.Action, target, detail string, ok bool) {
	if s.cfg.Auth != nil {
		s.cfg.Auth.Record(c.Request.Context(), actor(c), action, target, detail, ok)
	}
}

// requireJSON refuses a body that is not declared as JSON: together with
// the CSRF check it keeps HTML forms (which can only send form and text
// types) away from the JSON API.
func requireJSON(c *gin.Context) error {
	ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if ct != "application/json" {
		return fmt.Errorf("%w: %q (want application/json)", errMediaType, c.GetHeader("Content-Type"))
	}
	return nil
}

// decodeJSON reads a JSON body of at most 64 KiB into v, refusing unknown fields.
func decodeJSON(c *gin.Context, v any, what string) error {
	if err := requireJSON(c); err != nil {
		return err
	}
	dec := json.NewDecoder(io.LimitReader(c.Request.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("%s body: %v", what, err)
	}
	return nil
}

// pageData is what every page template gets.
type pageData struct {
	User    string
	Roles   map[string]bool
	Kiosk   bool
	CSRF    string
	Message string
	Next    string
	// Text is the page's language: {{.Text.T "id"}} in templates, and the
	// catalogue handed to the page's script.
	Text pageText
}

// T is the message id in the page's language.
func (d pageData) T(id string) string { return d.Text.T(id) }

func (s *Server) pageData(c *gin.Context, next, msg string) pageData {
	d := pageData{Roles: map[string]bool{}, Message: msg, Next: next, Text: s.text.page(s.text.lang(c))}
	if p := principal(c); p != nil {
		d.User, d.Kiosk, d.CSRF = p.Name, p.Via == auth.ViaKiosk, p.CSRF
		for _, r := range p.Roles {
			d.Roles[string(r)] = true
		}
	}
	return d
}

// safeNext keeps a post-login redirect on this station: a path, never
// another host ("//evil.example" or "https://…").
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (s *Server) loginPage(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.HTML(http.StatusOK, "login.html", s.pageData(c, safeNext(c.Query("next")), ""))
}

type loginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// sessionResponse describes the caller.
type sessionResponse struct {
	User    string      `json:"user"`
	Roles   []auth.Role `json:"roles"`
	Via     auth.Via    `json:"via"`
	CSRF    string      `json:"csrf_token,omitempty"`
	Expires *time.Time  `json:"expires,omitempty"`
}

func (s *Server) login(c *gin.Context) {
	if s.cfg.Auth == nil {
		s.fail(c, fmt.Errorf("%w: this station has no user store", errUnavailable))
		return
	}
	var req loginRequest
	if err := decodeJSON(c, &req, "login"); err != nil {
		s.fail(c, err)
		return
	}
	secret, sess, err := s.cfg.Auth.Login(c.Request.Context(), req.User, req.Password, c.ClientIP())
	var rl *auth.RateLimitError
	if errors.As(err, &rl) {
		c.Header("Retry-After", strconv.Itoa(int(rl.RetryAfter.Seconds()+0.999)))
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: SessionCookie, Value: secret, Path: "/", Expires: sess.Expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.SecureCookies,
	})
	p, err := s.cfg.Auth.Authenticate(c.Request.Context(), secret)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, sessionResponse{User: p.Name, Roles: p.Roles, Via: p.Via, CSRF: p.CSRF, Expires: &sess.Expires})
}

func (s *Server) logout(c *gin.Context) {
	p := principal(c)
	if s.cfg.Auth != nil {
		if err := s.cfg.Auth.Logout(c.Request.Context(), p, c.ClientIP()); err != nil {
			s.fail(c, err)
			return
		}
	}
	s.clearCookie(c)
	c.JSON(http.StatusOK, gin.H{"logged_out": p.Via == auth.ViaSession})
}

func (s *Server) clearCookie(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.SecureCookies})
}

func (s *Server) session(c *gin.Context) {
	p := principal(c)
	c.JSON(http.StatusOK, sessionResponse{User: p.Name, Roles: p.Roles, Via: p.Via, CSRF: p.CSRF})
}

// usersResponse lists accounts and tokens for admins; no hashes.
type usersResponse struct {
	Users  []userInfo  `json:"users"`
	Tokens []tokenInfo `json:"tokens"`
}

type userInfo struct {
	Name     string      `json:"name"`
	Roles    []auth.Role `json:"roles"`
	Disabled bool        `json:"disabled"`
	Created  time.Time   `json:"created"`
}

type tokenInfo struct {
	ID      string      `json:"id"`
	Name    string      `json:"name"`
	Roles   []auth.Role `json:"roles"`
	Revoked bool        `json:"revoked"`
	Created time.Time   `json:"created"`
}

func (s *Server) listUsers(c *gin.Context) {
	if s.cfg.Auth == nil {
		s.fail(c, fmt.Errorf("%w: this station has no user store", errUnavailable))
		return
	}
	ctx := c.Request.Context()
	us, err := s.cfg.Auth.Store.Users(ctx)
	if err != nil {
		s.fail(c, err)
		return
	}
	ts, err := s.cfg.Auth.Store.Tokens(ctx)
	if err != nil {
		s.fail(c, err)
		return
	}
	r := usersResponse{Users: []userInfo{}, Tokens: []tokenInfo{}}
	for _, u := range us {
		r.Users = append(r.Users, userInfo{Name: u.Name, Roles: u.Roles, Disabled: u.Disabled, Created: u.Created})
	}
	for _, t := range ts {
		r.Tokens = append(r.Tokens, tokenInfo{ID: t.ID, Name: t.Name, Roles: t.Roles, Revoked: t.Revoked, Created: t.Created})
	}
	c.JSON(http.StatusOK, r)
}

// auditPage reads one page of the audit log, newest first.
func (s *Server) auditEvents(ctx context.Context, c *gin.Context, defLimit int) ([]auth.Event, error) {
	if s.cfg.Auth == nil {
		return nil, fmt.Errorf("%w: this station has no audit log", errUnavailable)
	}
	q := auth.AuditQuery{Limit: defLimit}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxListLimit {
			return nil, badRequest("limit=%q (want 0…%d)", v, MaxListLimit)
		}
		q.Limit = n
	}
	if v := c.Query("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, badRequest("before=%q is not an id", v)
		}
		q.Before = n
	}
	return s.cfg.Auth.Store.Audit(ctx, q)
}

func (s *Server) listAudit(c *gin.Context) {
	evs, err := s.auditEvents(c.Request.Context(), c, 100)
	if err != nil {
		s.fail(c, err)
		return
	}
	if evs == nil {
		evs = []auth.Event{}
	}
	c.JSON(http.StatusOK, gin.H{"events": evs})
}

// exportAudit downloads the whole audit log (or a page of it) as CSV or
// JSON; the download is itself audited.
func (s *Server) exportAudit(c *gin.Context) {
	format := c.DefaultQuery("format", "csv")
	if format != "csv" && format != "json" {
		s.fail(c, badRequest("format=%q (want csv or json)", format))
		return
	}
	evs, err := s.auditEvents(c.Request.Context(), c, 0)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.audit(c, auth.ActionAuditExport, "", fmt.Sprintf("%s, %d events", format, len(evs)), true)
	name := fmt.Sprintf("pruefplatz-audit-%s.%s", s.cfg.Now().UTC().Format("20060102-150405"), format)
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "json" {
		if evs == nil {
			evs = []auth.Event{}
		}
		c.JSON(http.StatusOK, evs)
		return
	}
	c.Status(http.StatusOK)
	c.Header("Content-Type", "text/csv; charset=utf-8")
	writeAuditCSV(c.Writer, evs)
}
