package stationui

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif" // header checks for uploads (DecodeConfig only)
	_ "image/jpeg"
	_ "image/png"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
	"github.com/pruefplatz/pruefplatz/models"
)

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (s *Server) openapi(c *gin.Context) {
	b, err := webFS.ReadFile("web/openapi.json")
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", b)
}

// statusResponse is the station's status plus what only the UI knows.
type statusResponse struct {
	inspector.StationStatus
	Operator   string                `json:"operator"`
	ShiftStart time.Time             `json:"shift_start"`
	ServerTime time.Time             `json:"server_time"`
	Store      *inspector.StoreStats `json:"store,omitempty"`
}

func (s *Server) status(c *gin.Context) {
	r := statusResponse{
		StationStatus: s.st.Status(), ShiftStart: s.shift(), ServerTime: s.cfg.Now(),
	}
	if p := principal(c); p != nil {
		r.Operator = p.Name
	}
	if st, ok := s.storeStats(); ok {
		r.Store = &st
		r.StoreSize = st.SizeBytes
	}
	c.JSON(http.StatusOK, r)
}

// storeStats asks the store about itself; the station does not know the
// store's size, so the UI fills StationStatus.StoreSize from here.
func (s *Server) storeStats() (inspector.StoreStats, bool) {
	ss, ok := s.store.(Statser)
	if !ok {
		return inspector.StoreStats{}, false
	}
	st, err := ss.Stats()
	if err != nil {
		s.log.Warn("store stats", "err", err)
		return st, false
	}
	return st, true
}

func (s *Server) labels(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"labels": nonNil(s.st.Labels()), "ok_labels": nonNil(s.st.OKLabels())})
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// countsResponse holds the shift counters by effective outcome (a review's
// outcome replaces the machine's).
type countsResponse struct {
	ShiftStart time.Time `json:"shift_start"`
	OK         int       `json:"ok"`
	NOK        int       `json:"nok"`
	Uncertain  int       `json:"uncertain"`
	Class      int       `json:"class"`
	Total      int       `json:"total"`
}

func (s *Server) counts(c *gin.Context) {
	from := s.shift()
	m, err := s.countSince(c, from)
	if err != nil {
		s.fail(c, err)
		return
	}
	r := countsResponse{ShiftStart: from, OK: m[inspector.OutcomeOK], NOK: m[inspector.OutcomeNOK],
		Uncertain: m[inspector.OutcomeUncertain], Class: m[inspector.OutcomeClass]}
	for _, n := range m {
		r.Total += n
	}
	c.JSON(http.StatusOK, r)
}

func (s *Server) countSince(c *gin.Context, from time.Time) (map[inspector.Outcome]int, error) {
	if ct, ok := s.store.(Counter); ok {
		return ct.Counts(c.Request.Context(), from)
	}
	vs, err := s.store.List(c.Request.Context(), inspector.VerdictQuery{From: from})
	if err != nil {
		return nil, err
	}
	m := map[inspector.Outcome]int{}
	for _, v := range vs {
		o, _ := v.Effective()
		m[o]++
	}
	return m, nil
}

func (s *Server) newShift(c *gin.Context) {
	s.mu.Lock()
	prev := s.shiftStart
	s.shiftStart = s.cfg.Now()
	s.mu.Unlock()
	s.audit(c, auth.ActionShiftReset, "", "previous shift from "+prev.UTC().Format(time.RFC3339), true)
	s.counts(c)
}

func (s *Server) trigger(c *gin.Context) {
	v, err := s.st.Trigger(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.metrics.verdicts.WithLabelValues(string(v.Outcome)).Inc()
	c.JSON(http.StatusOK, v)
}

// classify reads an upload (multipart field "image" or the raw body), checks
// its size and claimed dimensions, and lets the station classify it.
func (s *Server) classify(c *gin.Context) {
	store := false
	if q := c.Query("store"); q != "" {
		b, err := strconv.ParseBool(q)
		if err != nil {
			s.fail(c, badRequest("store=%q is not a boolean", q))
			return
		}
		store = b
	}
	data, err := s.readUpload(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, err := s.st.ClassifyImage(c.Request.Context(), data, store)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.metrics.classified.WithLabelValues(string(v.Outcome)).Inc()
	c.JSON(http.StatusOK, v)
}

// multipartSlack allows for multipart headers and boundaries around a file
// of exactly MaxUpload bytes.
const multipartSlack = 64 << 10

func (s *Server) readUpload(c *gin.Context) ([]byte, error) {
	limit := s.cfg.MaxUpload
	ct, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	var data []byte
	if ct == "multipart/form-data" {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit+multipartSlack)
		mr, err := c.Request.MultipartReader()
		if err != nil {
			return nil, badRequest("multipart: %v", err)
		}
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil, badRequest("multipart form has no field %q", "image")
			}
			if err != nil {
				var maxErr *http.MaxBytesError
				if errors.As(err, &maxErr) {
					return nil, err
				}
				return nil, badRequest("multipart: %v", err)
			}
			if p.FormName() != "image" {
				continue
			}
			data, err = io.ReadAll(io.LimitReader(p, limit+1))
			if err != nil {
				var maxErr *http.MaxBytesError
				if errors.As(err, &maxErr) {
					return nil, err
				}
				return nil, fmt.Errorf("%w: reading upload: %v", inspector.ErrBadImage, err)
			}
			break
		}
	} else {
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		var err error
		data, err = io.ReadAll(c.Request.Body)
		if err != nil {
			var maxErr *http.MaxBytesError
			if errors.As(err, &maxErr) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: reading upload: %v", inspector.ErrBadImage, err)
		}
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: upload exceeds %d bytes", inspector.ErrImageTooLarge, limit)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty upload", inspector.ErrBadImage)
	}
	// Refuse a decompression bomb from its header alone; formats Go cannot
	// parse here are left to the station's decoder, which checks again.
	if s.cfg.MaxPixels > 0 {
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(data)); err == nil &&
			int64(cfg.Width)*int64(cfg.Height) > s.cfg.MaxPixels {
			return nil, fmt.Errorf("%w: header claims %dx%d pixels (limit %d)",
				inspector.ErrImageTooLarge, cfg.Width, cfg.Height, s.cfg.MaxPixels)
		}
	}
	return data, nil
}

var outcomes = []inspector.Outcome{inspector.OutcomeOK, inspector.OutcomeNOK, inspector.OutcomeClass, inspector.OutcomeUncertain}

// MaxListLimit caps one page of /api/verdicts.
const MaxListLimit = 1000

// parseQuery reads the verdict filters shared by listing and export.
func parseQuery(c *gin.Context, defLimit int) (inspector.VerdictQuery, error) {
	q := inspector.VerdictQuery{Label: c.Query("label"), Limit: defLimit}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if v := c.Query(f.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return q, badRequest("%s=%q is not an RFC 3339 time", f.name, v)
			}
			*f.dst = t
		}
	}
	if v := c.Query("outcome"); v != "" {
		if !slices.Contains(outcomes, inspector.Outcome(v)) {
			return q, badRequest("outcome=%q (want ok, nok, class or uncertain)", v)
		}
		q.Outcome = inspector.Outcome(v)
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > MaxListLimit {
			return q, badRequest("limit=%q (want 0…%d)", v, MaxListLimit)
		}
		q.Limit = n
	}
	if v := c.Query("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return q, badRequest("before=%q is not an id", v)
		}
		q.Before = n
	}
	return q, nil
}

// listResponse is one page of verdicts; Next is the "before" for the next page.
type listResponse struct {
	Verdicts []inspector.Verdict `json:"verdicts"`
	Next     uint64              `json:"next,omitempty"`
}

func (s *Server) listVerdicts(c *gin.Context) {
	q, err := parseQuery(c, 50)
	if err != nil {
		s.fail(c, err)
		return
	}
	if q.Limit == 0 {
		q.Limit = MaxListLimit
	}
	vs, err := s.store.List(c.Request.Context(), q)
	if err != nil {
		s.fail(c, err)
		return
	}
	r := listResponse{Verdicts: vs}
	if r.Verdicts == nil {
		r.Verdicts = []inspector.Verdict{}
	}
	if len(vs) == q.Limit && len(vs) > 0 {
		r.Next = vs[len(vs)-1].ID
	}
	c.JSON(http.StatusOK, r)
}

func parseID(c *gin.Context) (uint64, error) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, badRequest("id %q is not a verdict id", c.Param("id"))
	}
	return id, nil
}

func (s *Server) getVerdict(c *gin.Context) {
	id, err := parseID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	v, err := s.store.Get(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (s *Server) verdictImage(thumb bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := parseID(c)
		if err != nil {
			s.fail(c, err)
			return
		}
		b, err := s.image(c, id, thumb)
		if err != nil {
			s.fail(c, err)
			return
		}
		if len(b) == 0 {
			s.fail(c, fmt.Errorf("%w: verdict %d has no image", inspector.ErrNotFound, id))
			return
		}
		// A verdict's image never changes once recorded.
		c.Header("Cache-Control", "private, max-age=86400, immutable")
		c.Data(http.StatusOK, http.DetectContentType(b), b)
	}
}

func (s *Server) image(c *gin.Context, id uint64, thumb bool) ([]byte, error) {
	if im, ok := s.store.(Imager); ok {
		b, err := im.Image(id, thumb)
		if thumb && errors.Is(err, inspector.ErrNotFound) {
			// Older records may lack a thumbnail; the frame will do.
			b, err = im.Image(id, false)
		}
		return b, err
	}
	v, err := s.store.Get(c.Request.Context(), id)
	if err != nil {
		return nil, err
	}
	if thumb && len(v.Thumb) > 0 {
		return v.Thumb, nil
	}
	return v.Image, nil
}

// reviewRequest is the body of POST /api/verdicts/{id}/review. It names no
// reviewer: the review records the logged-in caller.
type reviewRequest struct {
	Label   string `json:"label"`
	Comment string `json:"comment"`
}

func (s *Server) review(c *gin.Context) {
	id, err := parseID(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	var req reviewRequest
	if err := decodeJSON(c, &req, "review"); err != nil {
		s.fail(c, err)
		return
	}
	req.Label = strings.TrimSpace(req.Label)
	if req.Label == "" {
		s.fail(c, badRequest("review needs a label"))
		return
	}
	ctx := c.Request.Context()
	v, err := s.store.Get(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	known := slices.Contains(s.st.Labels(), req.Label)
	for _, p := range v.TopK {
		known = known || p.Label == req.Label
	}
	if !known {
		s.fail(c, badRequest("label %q is not one of the model's labels", req.Label))
		return
	}
	p := principal(c)
	r := inspector.Review{
		Label: req.Label, Outcome: s.outcomeFor(req.Label), By: p.Name, Via: string(p.Via), At: s.cfg.Now().UTC(),
		Comment: strings.TrimSpace(req.Comment), Confirmed: req.Label == v.Label,
	}
	if err := s.store.SetReview(ctx, id, r); err != nil {
		s.fail(c, err)
		return
	}
	v, err = s.store.Get(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.metrics.reviews.WithLabelValues(strconv.FormatBool(r.Confirmed)).Inc()
	ev := inspector.Event{Kind: inspector.EventReview, Time: r.At, Verdict: v}
	if s.cfg.Notify != nil {
		s.cfg.Notify(ev)
	}
	s.publish(ev)
	c.JSON(http.StatusOK, v)
}

// outcomeFor derives a reviewed label's outcome from the active model's OK
// labels; a model without OK labels names parts, so the outcome is a class.
func (s *Server) outcomeFor(label string) inspector.Outcome {
	ok := s.st.OKLabels()
	switch {
	case len(ok) == 0:
		return inspector.OutcomeClass
	case slices.Contains(ok, label):
		return inspector.OutcomeOK
	default:
		return inspector.OutcomeNOK
	}
}

func (s *Server) export(c *gin.Context) {
	format := c.DefaultQuery("format", "csv")
	if format != "csv" && format != "json" {
		s.fail(c, badRequest("format=%q (want csv or json)", format))
		return
	}
	q, err := parseQuery(c, 0)
	if err != nil {
		s.fail(c, err)
		return
	}
	ctype := map[string]string{"csv": "text/csv; charset=utf-8", "json": "application/json"}[format]
	name := fmt.Sprintf("pruefplatz-verdicts-%s.%s", s.cfg.Now().UTC().Format("20060102-150405"), format)
	c.Header("Content-Type", ctype)
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	// Streamed: headers go out with the first byte, so an error before it
	// still becomes a proper status, and one after it can only be logged.
	w := &lazyWriter{c: c}
	if ex, ok := s.store.(Exporter); ok {
		err = ex.Export(c.Request.Context(), w, format, q)
	} else {
		err = s.exportFallback(c, w, format, q)
	}
	s.audit(c, auth.ActionExport, c.Request.URL.RawQuery, format, err == nil)
	switch {
	case err != nil && !w.started:
		c.Writer.Header().Del("Content-Disposition")
		s.fail(c, err)
	case err != nil:
		s.log.Error("export interrupted", "err", err)
	case !w.started:
		c.Status(http.StatusOK)
	}
}

// lazyWriter commits the 200 status on the first write.
type lazyWriter struct {
	c       *gin.Context
	started bool
}

func (w *lazyWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		w.c.Status(http.StatusOK)
	}
	return w.c.Writer.Write(p)
}

func (s *Server) backup(c *gin.Context) {
	b, ok := s.store.(Backuper)
	if !ok {
		s.fail(c, fmt.Errorf("%w: this store cannot make backups", errUnavailable))
		return
	}
	name := fmt.Sprintf("pruefplatz-%s.db", s.cfg.Now().UTC().Format("20060102-150405"))
	c.Header("Content-Type", "application/octet-stream")
	c.Header("Content-Disposition", `attachment; filename="`+name+`"`)
	// Streamed: a multi-gigabyte store must not be buffered. A failure after
	// the first byte can only cut the download short, so it is logged.
	w := &lazyWriter{c: c}
	n, err := b.Backup(w)
	s.audit(c, auth.ActionBackup, name, fmt.Sprintf("%d bytes", n), err == nil)
	switch {
	case err != nil && !w.started:
		c.Writer.Header().Del("Content-Disposition")
		s.fail(c, err)
	case err != nil:
		s.log.Error("backup interrupted", "err", err, "bytes", n)
	default:
		s.log.Info("backup served", "bytes", n)
	}
}

// modelsResponse lists the registry for the engineer page.
type modelsResponse struct {
	Active *models.Active     `json:"active"`
	Models []*models.Card     `json:"models"`
	Errors []string           `json:"errors,omitempty"`
	Status inspector.ModelRef `json:"serving"`
}

func (s *Server) listModels(c *gin.Context) {
	r := modelsResponse{Models: []*models.Card{}, Status: s.st.Status().Model}
	if s.reg != nil {
		cards, errs := s.reg.List()
		if cards != nil {
			r.Models = cards
		}
		for _, e := range errs {
			r.Errors = append(r.Errors, e.Error())
		}
		if a, err := s.reg.ReadActive(); err == nil {
			r.Active = a
		}
	}
	c.JSON(http.StatusOK, r)
}

type activateRequest struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func (s *Server) activateModel(c *gin.Context) {
	var req activateRequest
	if err := decodeJSON(c, &req, "activate"); err != nil {
		s.fail(c, err)
		return
	}
	if req.Name == "" || req.Version == "" {
		s.fail(c, badRequest("activate needs name and version"))
		return
	}
	s.activate(c, req.Name, req.Version)
}

func (s *Server) activate(c *gin.Context, name, version string) {
	var err error
	if s.reg == nil {
		// Without a registry the swap cannot be recorded; it lasts until restart.
		err = s.swapIn(c, name, version)
	} else {
		_, err = s.reg.Activate(name, version, func(card *models.Card, _ string) error {
			return s.swapIn(c, card.Name, card.Version)
		})
	}
	s.activated(c, auth.ActionModelActivate, name+"/"+version, err)
}

// swapIn asks the station to load, check and warm the model and swap it in.
// A refusal is the client's business (409 with the reason): the old model
// keeps serving.
func (s *Server) swapIn(c *gin.Context, name, version string) error {
	err := s.st.ActivateModel(c.Request.Context(), name, version)
	if err != nil && !errors.Is(err, models.ErrNoModel) && !errors.Is(err, inspector.ErrNotFound) {
		return fmt.Errorf("%w: %w", errConflict, err)
	}
	return err
}

// activated answers an activation or rollback and audits it, with the
// reason when the station refused the model.
func (s *Server) activated(c *gin.Context, action auth.Action, target string, err error) {
	if errors.Is(err, models.ErrTampered) || errors.Is(err, inspector.ErrModelShape) {
		err = fmt.Errorf("%w: %w", errConflict, err)
	}
	m := s.st.Status().Model
	if err != nil {
		s.audit(c, action, target, err.Error(), false)
		s.fail(c, err)
		return
	}
	s.audit(c, action, m.Name+"/"+m.Version, "sha256 "+m.SHA256, true)
	s.log.Info("model activated", "name", m.Name, "version", m.Version)
	c.JSON(http.StatusOK, m)
}

// rollbackModel re-activates the model that was active before the current
// one, checked and swapped in like any activation.
func (s *Server) rollbackModel(c *gin.Context) {
	if s.reg == nil {
		s.fail(c, fmt.Errorf("%w: no model registry configured", errUnavailable))
		return
	}
	_, err := s.reg.Rollback(func(card *models.Card, _ string) error {
		return s.swapIn(c, card.Name, card.Version)
	})
	s.activated(c, auth.ActionModelRollback, "previous model", err)
}

var imageExt = []string{".jpg", ".jpeg", ".png", ".bmp", ".webp"}

func (s *Server) referenceList(c *gin.Context) {
	classes := []string{}
	if s.cfg.ReferenceImages != "" {
		entries, _ := os.ReadDir(s.cfg.ReferenceImages)
		for _, e := range entries {
			if e.IsDir() && validClass(e.Name()) && s.referencePath(e.Name()) != "" {
				classes = append(classes, e.Name())
			}
		}
	}
	c.JSON(http.StatusOK, gin.H{"classes": classes})
}

func validClass(name string) bool {
	return name != "" && !strings.HasPrefix(name, ".") && !strings.ContainsAny(name, `/\`) && len(name) <= 200
}

// referencePath is the first image (by name) in the class's catalogue folder.
func (s *Server) referencePath(class string) string {
	dir := filepath.Join(s.cfg.ReferenceImages, class)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	names := []string{}
	for _, e := range entries {
		if !e.IsDir() && slices.Contains(imageExt, strings.ToLower(filepath.Ext(e.Name()))) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return filepath.Join(dir, names[0])
}

func (s *Server) referenceImage(c *gin.Context) {
	class := c.Param("class")
	if !validClass(class) {
		s.fail(c, badRequest("class %q", class))
		return
	}
	p := ""
	if s.cfg.ReferenceImages != "" {
		p = s.referencePath(class)
	}
	if p == "" {
		s.fail(c, fmt.Errorf("%w: no reference image for %q", inspector.ErrNotFound, class))
		return
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.File(p)
}

// plcStatus answers GET /api/plc: whether a PLC handshake runs and, if so,
// its connection, mode and register map with the current values.
func (s *Server) plcStatus(c *gin.Context) {
	if s.cfg.PLC == nil {
		c.JSON(http.StatusOK, gin.H{"enabled": false})
		return
	}
	c.JSON(http.StatusOK, gin.H{"enabled": true, "plc": s.cfg.PLC()})
}
