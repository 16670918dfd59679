package stationui

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/datasets"
	"github.com/pruefplatz/pruefplatz/inspector"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
)

// The capture page: an engineer starts a capture session (turntable, by
// hand, timed), watches it, and reviews finished sessions (drop a frame,
// move it to another class or part). Config.Capture runs the sessions.

func (s *Server) captureRoutes(r gin.IRoutes) {
	s.handlePage(r, "/capture", engOrAdm, s.page("capture.html"))
	s.handle(r, "GET", "/api/capture/sessions", engineer, s.capList)
	s.handle(r, "POST", "/api/capture/sessions", engineer, s.capStart)
	s.handle(r, "GET", "/api/capture/sessions/:id", engineer, s.capProgress)
	s.handle(r, "POST", "/api/capture/sessions/:id/press", engineer, s.capAct("press"))
	s.handle(r, "POST", "/api/capture/sessions/:id/stop", engineer, s.capAct("stop"))
	s.handle(r, "POST", "/api/capture/sessions/:id/resume", engineer, s.capAct("resume"))
	s.handle(r, "GET", "/api/capture/sessions/:id/contact.png", engineer, s.capSheet)
	s.handle(r, "GET", "/api/capture/sessions/:id/frames/:n", engineer, s.capFrame)
	s.handle(r, "DELETE", "/api/capture/sessions/:id/frames/:n", engineer, s.capDrop)
	s.handle(r, "POST", "/api/capture/sessions/:id/frames/:n/move", engineer, s.capMove)
	s.handle(r, "GET", "/api/capture/dataset", engineer, s.capDataset)
	s.handle(r, "GET", "/api/capture/preview.mjpg", engineer, s.capPreview)
}

// capPreview streams what a hand or timed session would capture: the
// camera's frames cut to the ROI, without the live view's verdict overlay,
// which would tell whoever captures training data what the current model
// thinks of the part.
func (s *Server) capPreview(c *gin.Context) {
	m := s.captureManager(c)
	if m == nil {
		return
	}
	if m.Preview == nil {
		s.fail(c, fmt.Errorf("%w: capture has no preview camera", errUnavailable))
		return
	}
	s.mjpeg(c, func() ([]byte, uint64) {
		b, seq, err := m.Preview()
		if err != nil {
			return nil, 0
		}
		return b, seq
	})
}

// capErr maps the capture package's errors onto the server's.
func capErr(err error) error {
	switch {
	case errors.Is(err, capture.ErrNotFound):
		return fmt.Errorf("%w: %w", inspector.ErrNotFound, err)
	case errors.Is(err, capture.ErrInvalid):
		return fmt.Errorf("%w: %w", errBadRequest, err)
	case errors.Is(err, capture.ErrBusy):
		return fmt.Errorf("%w: %w", errConflict, err)
	}
	return err
}

func (s *Server) captureManager(c *gin.Context) *capture.Manager {
	if s.cfg.Capture == nil {
		s.fail(c, fmt.Errorf("%w: capture is not configured", errUnavailable))
		return nil
	}
	return s.cfg.Capture
}

func (s *Server) capList(c *gin.Context) {
	m := s.captureManager(c)
	if m == nil {
		return
	}
	list, err := m.Store.List(m.Live)
	if err != nil {
		s.fail(c, err)
		return
	}
	if list == nil {
		list = []*capture.Session{}
	}
	c.JSON(http.StatusOK, gin.H{"dataset": m.Store.Root, "sessions": list})
}

type captureRequest struct {
	Class      string `json:"class"`
	Part       string `json:"part"`
	Mode       string `json:"mode"`
	Angles     int    `json:"angles"`
	PerView    int    `json:"per_view"`
	IntervalMS int    `json:"interval_ms"`
	Flip       bool   `json:"flip"`
	Rig        string `json:"rig"`
}

func (s *Server) capStart(c *gin.Context) {
	m := s.captureManager(c)
	if m == nil {
		return
	}
	var req captureRequest
	if err := c.ShouldBindJSON(&req); err != nil {
		s.fail(c, badRequest("capture request: %v", err))
		return
	}
	mode := capture.Mode(req.Mode)
	rig := ""
	if mode == capture.Turntable || mode == "" {
		rig = req.Rig
		if rig == "" {
			rig = "sim"
		}
	}
	sess, err := m.Start(capture.Spec{Target: capture.Target{Class: req.Class, Part: req.Part}, Mode: mode,
		Angles: req.Angles, PerView: req.PerView, Interval: time.Duration(req.IntervalMS) * time.Millisecond,
		Flip: req.Flip, Rig: rig, By: principal(c).Name, Camera: capture.CameraInfo{Source: "station camera"}})
	if err != nil {
		s.fail(c, capErr(err))
		return
	}
	c.JSON(http.StatusCreated, sess)
}

func (s *Server) capProgress(c *gin.Context) {
	m := s.captureManager(c)
	if m == nil {
		return
	}
	p, err := m.Progress(c.Param("id"))
	if err != nil {
		s.fail(c, capErr(err))
		return
	}
	c.JSON(http.StatusOK, p)
}

func (s *Server) capAct(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		m := s.captureManager(c)
		if m == nil {
			return
		}
		id := c.Param("id")
		var err error
		switch action {
		case "press":
			err = m.Press(id)
		case "stop":
			err = m.Stop(id)
		case "resume":
			_, err = m.Resume(id)
		}
		if err != nil {
			s.fail(c, capErr(err))
			return
		}
		c.JSON(http.StatusOK, gin.H{"ok": true})
	}
}

func (s *Server) capSheet(c *gin.Context) {
	m := s.captureManager(c)
	if m == nil {
		return
	}
	id := c.Param("id")
	if !capture.ValidID(id) {
		s.fail(c, fmt.Errorf("%w: session %q", inspector.ErrNotFound, id))
		return
	}
	b, err := os.ReadFile(m.Store.SheetPath(id))
	if err != nil {
		s.fail(c, fmt.Errorf("%w: no contact sheet for %s yet", inspector.ErrNotFound, id))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(http.StatusOK, "image/png", b)
}

// capFrameOf returns frame n (0-based) of session id.
func (s *Server) capFrameOf(c *gin.Context, m *capture.Manager) (*capture.Session, capture.Frame, bool) {
	p, err := m.Progress(c.Param("id"))
	if err != nil {
		s.fail(c, capErr(err))
		return nil, capture.Frame{}, false
	}
	n, err := strconv.Atoi(c.Param("n"))
	if err != nil || n < 0 || n >= len(p.Session.Frames) {
		s.fail(c, fmt.Errorf("%w: frame %q of %s", inspector.ErrNotFound, c.Param("n"), p.Session.ID))
		return nil, capture.Frame{}, false
	}
	return p.Session, p.Session.Frames[n], true
}

func (s *Server) capFrame(c *gin.Context) {
	m := s.captureManager(c)
	if m == nil {
		return
	}
	_, f, ok := s.capFrameOf(c, m)
	if !ok {
		return
	}
	b, err := os.ReadFile(filepath.Join(m.Store.Root, filepath.FromSlash(f.File)))
	if err != nil {
		s.fail(c, fmt.Errorf("%w: %s", inspector.ErrNotFound, f.File))
		return
	}
	c.Data(http.StatusOK, "image/jpeg", b)
}

func (s *Server) capDrop(c *gin.Context) {
	m := s.captureManager(c)
	if m == nil {
		return
	}
	sess, f, ok := s.capFrameOf(c, m)
	if !ok {
		return
	}
	err := m.Edit(sess.ID, func(x *capture.Session) error { return m.Store.Drop(x, f.File) })
	if err != nil {
		s.fail(c, capErr(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

func (s *Server) capMove(c *gin.Context) {
	m := s.captureManager(c)
	if m == nil {
		return
	}
	var req struct {
		To string `json:"to"`
	}
	if err := c.ShouldBindJSON(&req); err != nil {
		s.fail(c, badRequest("move request: %v", err))
		return
	}
	sess, f, ok := s.capFrameOf(c, m)
	if !ok {
		return
	}
	err := m.Edit(sess.ID, func(x *capture.Session) error { return m.Store.Move(x, f.File, req.To) })
	if err != nil {
		s.fail(c, capErr(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

func (s *Server) capDataset(c *gin.Context) {
	m := s.captureManager(c)
	if m == nil {
		return
	}
	in, err := datasets.Inspect(m.Store.Root)
	if err != nil && in == nil {
		if errors.Is(err, datasets.ErrNotDataset) {
			c.JSON(http.StatusOK, datasets.Inspection{Root: m.Store.Root, Classes: []datasets.ClassSummary{}, Warnings: []string{err.Error()}})
			return
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, in)
}
