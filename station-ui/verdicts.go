package stationui

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Verdicts: listing, one verdict, its images, and reviews.

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
	s.st.Publish(inspector.Event{Kind: inspector.EventReview, Time: r.At, Verdict: v})
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
