package stationui

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/auth"
)

// The station itself: health, the API document, status, labels and the
// shift counters.

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

// plcStatus answers GET /api/plc: whether a PLC handshake runs and, if so,
// its connection, mode and register map with the current values.
func (s *Server) plcStatus(c *gin.Context) {
	if s.cfg.PLC == nil {
		c.JSON(http.StatusOK, gin.H{"enabled": false})
		return
	}
	c.JSON(http.StatusOK, gin.H{"enabled": true, "plc": s.cfg.PLC()})
}
