package main

import (
	"bytes"
	"context"
	"fmt"
	"image/jpeg"
	"strings"
	"time"

	"github.com/pruefplatz/pruefplatz/datasets/demo"
	"github.com/pruefplatz/pruefplatz/inspector/capture"
	"github.com/pruefplatz/pruefplatz/inspector/capture/serialrig"
	"github.com/pruefplatz/pruefplatz/inspector/catalogue"
	"github.com/pruefplatz/pruefplatz/inspector/station"
)

// newCaptureManager wires the capture page's sessions: the simulated
// turntable (rig "sim": a demo part, a new one for every session of a
// class, photographed by its own simulated camera), a serial turntable
// ("serial:/dev/…") with the station's camera, and the station's camera
// alone for hand and timed sessions. Part sessions go into cat when it is
// not nil.
func newCaptureManager(dir string, st *station.Station, cat *catalogue.Service) *capture.Manager {
	m := &capture.Manager{Store: &capture.Store{Root: dir}}
	if cat != nil {
		m.Sink = cat
	}
	m.Preview = st.FrameJPEG
	m.Open = func(ctx context.Context, s *capture.Session) (capture.Setup, error) {
		switch {
		case s.Mode != capture.Turntable:
			return capture.Setup{Camera: &station.CaptureCamera{St: st}}, nil
		case s.Rig == "sim":
			return simSetup(m.Store, s)
		case strings.HasPrefix(s.Rig, "serial:"):
			rig, err := serialrig.Open(strings.TrimPrefix(s.Rig, "serial:"), serialrig.Options{Timeout: 2 * time.Second})
			if err != nil {
				return capture.Setup{}, fmt.Errorf("%w: %w", capture.ErrInvalid, err)
			}
			return capture.Setup{Rig: rig, Camera: &station.CaptureCamera{St: st}, Close: func() { rig.Close() }}, nil
		}
		return capture.Setup{}, fmt.Errorf("%w: rig %q: want sim or serial:/dev/DEVICE", capture.ErrInvalid, s.Rig)
	}
	return m
}

// simSetup puts a demo part of the session's class on the simulated
// turntable: the part numbered by how many sessions of the class exist, so
// each session photographs another part.
func simSetup(st *capture.Store, s *capture.Session) (capture.Setup, error) {
	class := s.Target.Folder()
	n := 0
	if list, err := st.List(nil); err == nil {
		for _, o := range list {
			if o.Target.Folder() == class && o.ID < s.ID {
				n++
			}
		}
	}
	tt, err := demo.NewTurntable(1, class, n)
	if err != nil {
		return capture.Setup{}, fmt.Errorf("%w: the simulated turntable holds demo parts: %w", capture.ErrInvalid, err)
	}
	// Turning takes a moment, as on a real turntable, so the page shows
	// the progress.
	tt.MoveTime = 150 * time.Millisecond
	empty, err := tt.Empty()
	if err != nil {
		return capture.Setup{}, err
	}
	bg, err := jpeg.Decode(bytes.NewReader(empty))
	if err != nil {
		return capture.Setup{}, err
	}
	s.Camera = capture.CameraInfo{Source: "demo turntable", Width: demo.Width, Height: demo.Height,
		Settings: map[string]string{"seed": "1", "part": fmt.Sprint(n)}}
	return capture.Setup{Rig: tt, Camera: tt, Gates: capture.Gates{Background: bg}}, nil
}
