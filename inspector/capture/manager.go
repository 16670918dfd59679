package capture

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"sync"
	"time"
)

// HandTrigger decides, in hand mode, when to take the frame: when the
// person presses the key (Press), or when the part has been turned away
// from the last kept view and then lies still for Still frames in a row
// (the auto trigger: frames whose signatures differ by no more than the
// gates' duplicate distance, with the part present).
type HandTrigger struct {
	Camera Camera
	Gates  Gates
	// Still is the number of still frames that fire the trigger (default 4;
	// negative: only Press fires).
	Still int
	// Poll is the time between frames looked at (default 100 ms).
	Poll  time.Duration
	press chan struct{}
	once  sync.Once
}

func (h *HandTrigger) init() { h.once.Do(func() { h.press = make(chan struct{}, 1) }) }

// Press takes the frame now (the Space key on the page).
func (h *HandTrigger) Press() {
	h.init()
	select {
	case h.press <- struct{}{}:
	default:
	}
}

// Wait returns when the frame for view v should be taken, or with ctx's
// error, or with the camera's error when it is lost.
func (h *HandTrigger) Wait(ctx context.Context, s *Session, v int) error {
	h.init()
	still, poll := h.Still, h.Poll
	if still == 0 {
		still = 4
	}
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	g := h.Gates.withDefaults()
	var last Signature
	if n := len(s.Frames); n > 0 {
		last, _ = ParseSignature(s.Frames[n-1].Signature)
	}
	var prev Signature
	run := 0
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-h.press:
			return nil
		case <-t.C:
		}
		if still < 0 || h.Camera == nil {
			continue
		}
		data, err := h.Camera.Grab(ctx)
		if err != nil {
			return err
		}
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			continue
		}
		m, _ := g.Check(img, nil)
		moved := last == nil || m.Signature.Distance(last) > g.MaxDuplicate
		if m.Presence >= g.MinPresence && moved && prev != nil && m.Signature.Distance(prev) <= g.MaxDuplicate {
			run++
		} else {
			run = 0
		}
		prev = m.Signature
		if run >= still {
			return nil
		}
	}
}

// Setup is what a session runs with: made by the Manager's Open for each
// session and resume (cmd/pruefplatz wires the simulated or serial rig and
// the station's camera).
type Setup struct {
	Rig    Rig
	Camera Camera
	Gates  Gates
	// Close frees what Open opened (may be nil).
	Close func()
}

// ErrBusy is returned by Manager.Start while another session runs.
var ErrBusy = errors.New("a capture session is running")

// Manager runs one capture session at a time in the background for the
// web page and keeps its progress for it to poll.
type Manager struct {
	Store *Store
	// Open returns the rig, camera and gates for a session; rig is
	// Session.Rig ("sim", "serial:/dev/ttyUSB0" or "" for hand and timed).
	Open func(ctx context.Context, s *Session) (Setup, error)
	// Sink takes part sessions' frames into the catalogue (may be nil).
	Sink PartSink
	// Preview returns the newest frame of the camera that hand and timed
	// sessions take their frames from, as they would take it (cut to the
	// station's ROI, no overlay), with its sequence number (0: no frame
	// yet). Nil: there is no preview.
	Preview func() ([]byte, uint64, error)

	mu   sync.Mutex
	live *liveSession
	wg   sync.WaitGroup
}

type liveSession struct {
	snap *Session
	last Event
	// rejected is the last rejection of the view being taken, kept until a
	// frame is accepted: by hand the next "ask" follows at once.
	rejected string
	cancel   context.CancelFunc
	trigger  *HandTrigger
	err      string
	running  bool
}

// Progress is a session as the page shows it.
type Progress struct {
	Session *Session `json:"session"`
	Running bool     `json:"running"`
	Last    Event    `json:"last"`
	// Rejected says why the last frame of the current view was turned
	// away ("" once a frame is kept).
	Rejected string `json:"rejected,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Start creates a session from spec and runs it in the background; it
// returns a copy of the session as it started (the running one is the
// runner's). It returns ErrBusy (wrapped) while another session runs,
// ErrInvalid for a bad spec and Open's error.
func (m *Manager) Start(spec Spec) (*Session, error) {
	s, err := NewSession(spec, time.Now())
	if err != nil {
		return nil, err
	}
	return m.run(s)
}

// Resume continues a paused or incomplete session in the background and
// returns a copy of it. It returns ErrNotFound for an unknown one and
// ErrInvalid for one that is done.
func (m *Manager) Resume(id string) (*Session, error) {
	s, err := m.Store.Load(id, m.Live)
	if err != nil {
		return nil, err
	}
	if s.State == Done || s.State == Running {
		return nil, fmt.Errorf("%w: session %s is %s", ErrInvalid, id, s.State)
	}
	return m.run(s)
}

func (m *Manager) run(s *Session) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live != nil && m.live.running {
		return nil, fmt.Errorf("%w: %s", ErrBusy, m.live.snap.ID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	setup, err := m.Open(ctx, s)
	if err != nil {
		cancel()
		return nil, err
	}
	started := clone(s)
	live := &liveSession{snap: clone(s), cancel: cancel, running: true}
	r := &Runner{Store: m.Store, Rig: setup.Rig, Camera: setup.Camera, Gates: setup.Gates, Sink: m.Sink,
		Notify: func(s *Session, e Event) {
			c := clone(s)
			m.mu.Lock()
			live.snap, live.last = c, e
			switch e.Kind {
			case "rejected":
				live.rejected = e.Reason
			case "frame":
				live.rejected = ""
			}
			m.mu.Unlock()
		}}
	if s.Mode == Hand {
		live.trigger = &HandTrigger{Camera: setup.Camera, Gates: setup.Gates}
		r.Trigger = live.trigger.Wait
	}
	m.live = live
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		if setup.Close != nil {
			defer setup.Close()
		}
		err := r.Run(ctx, s)
		c := clone(s)
		m.mu.Lock()
		live.snap, live.running = c, false
		if err != nil {
			live.err = err.Error()
		}
		m.mu.Unlock()
	}()
	return started, nil
}

// Live reports whether session id runs now.
func (m *Manager) Live(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live != nil && m.live.running && m.live.snap.ID == id
}

// Progress returns the session's state: live when it is the current one,
// else from its manifest. It returns ErrNotFound for an unknown id.
func (m *Manager) Progress(id string) (Progress, error) {
	m.mu.Lock()
	if m.live != nil && m.live.snap.ID == id {
		p := Progress{Session: m.live.snap, Running: m.live.running, Last: m.live.last, Rejected: m.live.rejected, Error: m.live.err}
		m.mu.Unlock()
		return p, nil
	}
	m.mu.Unlock()
	s, err := m.Store.Load(id, m.Live)
	if err != nil {
		return Progress{}, err
	}
	return Progress{Session: s}, nil
}

// Press takes the hand-mode frame of the running session id now. It
// returns ErrNotFound when id is not a running hand-mode session.
func (m *Manager) Press(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live == nil || !m.live.running || m.live.snap.ID != id || m.live.trigger == nil {
		return fmt.Errorf("%w: no running hand-mode session %s", ErrNotFound, id)
	}
	m.live.trigger.Press()
	return nil
}

// Stop ends the running session id; it keeps its frames and reads as
// incomplete. It returns ErrNotFound when id does not run.
func (m *Manager) Stop(id string) error {
	m.mu.Lock()
	if m.live == nil || !m.live.running || m.live.snap.ID != id {
		m.mu.Unlock()
		return fmt.Errorf("%w: session %s is not running", ErrNotFound, id)
	}
	m.live.cancel()
	m.mu.Unlock()
	return nil
}

// Edit loads a session that is not running for Drop and Move. It returns
// ErrBusy while the session runs.
func (m *Manager) Edit(id string, edit func(s *Session) error) error {
	if m.Live(id) {
		return fmt.Errorf("%w: stop session %s before editing it", ErrBusy, id)
	}
	s, err := m.Store.Load(id, nil)
	if err != nil {
		return err
	}
	if err := edit(s); err != nil {
		return err
	}
	m.mu.Lock()
	if m.live != nil && m.live.snap.ID == id {
		m.live.snap = clone(s)
	}
	m.mu.Unlock()
	return nil
}

// Close stops the running session and waits for it.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.live != nil {
		m.live.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

func clone(s *Session) *Session {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a Session always marshals
	}
	var c Session
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	return &c
}
