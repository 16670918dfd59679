package stationui

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// events streams the station's events (reviews made here included) as server-sent events
// until the client leaves. Each event's SSE name is its kind; comments keep
// idle proxies and the browser's connection alive.
func (s *Server) events(c *gin.Context) {
	ctx := c.Request.Context()
	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	stationEvents := s.st.Subscribe(ctx)
	s.metrics.sseClients.Inc()
	defer s.metrics.sseClients.Dec()

	// Tell the browser how soon to reconnect, and give it the status at once.
	st := s.st.Status()
	if !s.writeEvent(c, inspector.Event{Kind: inspector.EventStatus, Time: s.cfg.Now(), Status: &st}, "retry: 2000\n") {
		return
	}
	hb := time.NewTicker(s.heartbeat)
	defer hb.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-stationEvents:
			if !ok {
				return // the station shut down
			}
			if !s.writeEvent(c, ev, "") {
				return
			}
		case <-hb.C:
			if _, err := fmt.Fprintf(w, ": heartbeat %d\n\n", s.cfg.Now().Unix()); err != nil {
				return
			}
			w.Flush()
		}
	}
}

func (s *Server) writeEvent(c *gin.Context, ev inspector.Event, prefix string) bool {
	b, err := json.Marshal(ev)
	if err != nil {
		s.log.Error("event not encodable", "kind", ev.Kind, "err", err)
		return true
	}
	if _, err := fmt.Fprintf(c.Writer, "%sevent: %s\ndata: %s\n\n", prefix, ev.Kind, b); err != nil {
		return false
	}
	c.Writer.Flush()
	return true
}

const mjpegBoundary = "pruefplatzframe"

// stream serves the station's annotated frames as multipart/x-mixed-replace.
func (s *Server) stream(c *gin.Context) { s.mjpeg(c, s.st.LatestJPEG) }

// mjpeg serves the frames latest returns as multipart/x-mixed-replace. It
// polls latest at most every frameInterval and sends a part only when the
// frame sequence changed, so a stalled camera costs no bandwidth. It
// returns when the client leaves or a write fails.
func (s *Server) mjpeg(c *gin.Context, latest func() ([]byte, uint64)) {
	ctx := c.Request.Context()
	w := c.Writer
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+mjpegBoundary)
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(http.StatusOK)
	// The headers of the next part go out right after each frame: browsers
	// show a part only once the next part's headers have arrived, and the
	// next frame may be a while (a still part, a stalled camera). So parts
	// carry no Content-Length; the boundary delimits them.
	partHead := "--" + mjpegBoundary + "\r\nContent-Type: image/jpeg\r\n\r\n"
	if _, err := io.WriteString(w, partHead); err != nil {
		return
	}
	w.Flush()
	s.metrics.streamClients.Inc()
	defer s.metrics.streamClients.Dec()

	t := time.NewTicker(s.frameInterval)
	defer t.Stop()
	var last uint64
	for {
		if jpg, seq := latest(); seq != last && len(jpg) > 0 {
			last = seq
			if _, err := w.Write(jpg); err != nil {
				return
			}
			if _, err := io.WriteString(w, "\r\n"+partHead); err != nil {
				return
			}
			w.Flush()
			s.metrics.streamFrames.Inc()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
