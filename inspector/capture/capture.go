// Package capture photographs a part from several views with the station's
// camera and writes what it took as a sorted, archived dataset: a capture
// session. It is domain code (no cgo): the camera, the rig that turns the
// part and the catalogue are interfaces that adapters implement.
//
// # On disk
//
// A session writes into a dataset folder OUT in the ImageFolder layout, so
// training reads it as it is:
//
//	OUT/<class>/<session>_v01_a030_00.jpg  one frame: session, view, angle, shot
//	OUT/.sessions/<session>/session.json the manifest (sha256 per frame, …)
//	OUT/.sessions/<session>/contact.png  the contact sheet
//	OUT/.sessions/<session>/<session>.tar the archive (manifest, sheet, frames)
//
// Every file is written atomically (internal/atomicfile), and the manifest
// is rewritten after each frame, so a session stopped at any moment (a full
// disk, a crash, Ctrl-C) keeps every frame it lists and never holds a half
// file. A manifest still saying "running" when nothing runs it is reported
// as incomplete. The session id in the file names lets the dataset split
// keep a session's frames together (datasets.Split).
package capture

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Mode is how the part is turned between frames.
type Mode string

// The capture modes.
const (
	// Turntable: a Rig turns the part to each angle, then a frame is taken.
	Turntable Mode = "turntable"
	// Hand: a person turns the part as asked; a frame is taken when the
	// part is still or on a key press.
	Hand Mode = "hand"
	// Timed: one frame every interval while a person moves the part.
	Timed Mode = "timed"
)

// State is where a session stands.
type State string

// The session states.
const (
	Running State = "running"
	// Paused: a fault (the rig not answering, the camera lost) stopped it;
	// it can be resumed and continues with the next missing view.
	Paused State = "paused"
	// Incomplete: it was stopped for good (interrupted, disk full) and keeps
	// the frames it lists.
	Incomplete State = "incomplete"
	Done       State = "done"
)

// Errors returned by the package. Callers test them with errors.Is.
var (
	// ErrInvalid is returned for a session that cannot run as given (no
	// target, both targets, an unknown mode, no angles); the message says why.
	ErrInvalid = errors.New("invalid capture session")
	// ErrRigTimeout is returned by a Rig that did not answer in time.
	ErrRigTimeout = errors.New("rig not answering")
	// ErrRig is returned by a Rig that answered with an error.
	ErrRig = errors.New("rig error")
	// ErrCameraLost is returned by a Camera that delivers no frame.
	ErrCameraLost = errors.New("camera lost")
	// ErrPaused is returned by Run when a fault paused the session; the
	// wrapped cause says which (ErrRigTimeout, ErrCameraLost, …).
	ErrPaused = errors.New("capture session paused")
	// ErrStopped is returned by Run when the session stopped for good and
	// kept what it had (a write failed, for example a full disk).
	ErrStopped = errors.New("capture session stopped")
	// ErrRejected is returned when a view's frames kept failing the gates.
	ErrRejected = errors.New("frame rejected")
	// ErrNotFound is returned for an unknown session or frame.
	ErrNotFound = errors.New("capture session not found")
)

// Target is what a session photographs: a class of a training dataset or a
// catalogue part, exactly one of them.
type Target struct {
	Class string `json:"class,omitempty"`
	Part  string `json:"part,omitempty"`
}

// Folder is the class folder the frames go to: the class, or the part number.
func (t Target) Folder() string {
	if t.Class != "" {
		return t.Class
	}
	return t.Part
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Validate returns an error wrapping ErrInvalid unless exactly one of Class
// and Part is set and it is a usable folder name.
func (t Target) Validate() error {
	switch {
	case t.Class == "" && t.Part == "":
		return fmt.Errorf("%w: no target: give a class (training data) or a part number (catalogue)", ErrInvalid)
	case t.Class != "" && t.Part != "":
		return fmt.Errorf("%w: both a class and a part given; pick one", ErrInvalid)
	case !nameRE.MatchString(t.Folder()):
		return fmt.Errorf("%w: %q is not a usable name (1–64 letters, digits, '.', '_', '-')", ErrInvalid, t.Folder())
	}
	return nil
}

// CameraInfo records how the frames were taken.
type CameraInfo struct {
	Source   string            `json:"source"`
	Width    int               `json:"width,omitempty"`
	Height   int               `json:"height,omitempty"`
	ROI      string            `json:"roi,omitempty"`
	Settings map[string]string `json:"settings,omitempty"`
}

// Frame is one accepted frame of a session.
type Frame struct {
	// File is relative to the dataset root, slash-separated.
	File      string    `json:"file"`
	SHA256    string    `json:"sha256"`
	View      int       `json:"view"` // index into Session.Views
	Angle     float64   `json:"angle"`
	Taken     time.Time `json:"taken"`
	Sharpness float64   `json:"sharpness"`
	Clipped   float64   `json:"clipped"`
	Presence  float64   `json:"presence"`
	Signature string    `json:"signature"` // for the near-duplicate gate
}

// Rejection is a frame the gates turned away, with why.
type Rejection struct {
	View   int       `json:"view"`
	Angle  float64   `json:"angle"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// View is one requested view of the part.
type View struct {
	Angle float64 `json:"angle"`
	// Ask is what a person is asked to do before it ("turn the part 30°").
	Ask string `json:"ask"`
}

// Session is one capture session and its manifest.
type Session struct {
	ID      string `json:"id"`
	Target  Target `json:"target"`
	Mode    Mode   `json:"mode"`
	Views   []View `json:"views"`
	PerView int    `json:"per_view"` // frames per view (the target count is len(Views)*PerView)
	// Interval between frames in timed mode.
	Interval time.Duration `json:"interval,omitempty"`
	State    State         `json:"state"`
	// Reason says why a session is paused or incomplete.
	Reason   string      `json:"reason,omitempty"`
	Rig      string      `json:"rig,omitempty"`
	Camera   CameraInfo  `json:"camera"`
	By       string      `json:"by"`
	Started  time.Time   `json:"started"`
	Updated  time.Time   `json:"updated"`
	Frames   []Frame     `json:"frames"`
	Rejected []Rejection `json:"rejected,omitempty"`
}

// TargetCount is the number of frames the session aims for.
func (s *Session) TargetCount() int { return len(s.Views) * max(1, s.PerView) }

// taken counts the accepted frames of view v.
func (s *Session) taken(v int) int {
	n := 0
	for _, f := range s.Frames {
		if f.View == v {
			n++
		}
	}
	return n
}

// NextView returns the first view that still lacks frames, or -1 when all
// are taken.
func (s *Session) NextView() int {
	for v := range s.Views {
		if s.taken(v) < max(1, s.PerView) {
			return v
		}
	}
	return -1
}

// Spec is what a new session is asked to do.
type Spec struct {
	Target Target
	Mode   Mode
	// Angles is the number of views evenly spread over 360° (default 12).
	Angles   int
	PerView  int           // default 1
	Interval time.Duration // timed mode: default 500 ms
	// Flip adds the same views again with the part turned over (hand mode).
	Flip   bool
	Rig    string
	Camera CameraInfo
	By     string
}

// NewSession checks spec and returns a running session with a fresh id and
// its views. It returns an error wrapping ErrInvalid for a bad spec.
func NewSession(spec Spec, now time.Time) (*Session, error) {
	if err := spec.Target.Validate(); err != nil {
		return nil, err
	}
	switch spec.Mode {
	case Turntable, Hand, Timed:
	case "":
		spec.Mode = Turntable
	default:
		return nil, fmt.Errorf("%w: unknown mode %q (want turntable, hand or timed)", ErrInvalid, spec.Mode)
	}
	if spec.Angles == 0 {
		spec.Angles = 12
	}
	if spec.Angles < 1 || spec.Angles > 360 {
		return nil, fmt.Errorf("%w: %d angles (want 1 to 360)", ErrInvalid, spec.Angles)
	}
	if spec.PerView <= 0 {
		spec.PerView = 1
	}
	if spec.Interval <= 0 {
		spec.Interval = 500 * time.Millisecond
	}
	if spec.By == "" {
		spec.By = "unknown"
	}
	step := 360 / float64(spec.Angles)
	var views []View
	sides := 1
	if spec.Flip {
		sides = 2
	}
	for side := range sides {
		for i := range spec.Angles {
			a := float64(i) * step
			ask := fmt.Sprintf("turn the part %g°", step)
			switch {
			case i == 0 && side == 0:
				ask = "lay the part in the middle of the view"
			case i == 0:
				ask = "flip the part over"
			}
			views = append(views, View{Angle: a, Ask: ask})
		}
	}
	return &Session{
		ID: newID(now), Target: spec.Target, Mode: spec.Mode, Views: views, PerView: spec.PerView,
		Interval: spec.Interval, State: Running, Rig: spec.Rig, Camera: spec.Camera, By: spec.By,
		Started: now.UTC(), Updated: now.UTC(), Frames: []Frame{},
	}, nil
}

// SessionIDPattern matches a session id; frame file names start with one.
const SessionIDPattern = `\d{8}-\d{6}-[0-9a-f]{6}`

var (
	idRE   = regexp.MustCompile(`^` + SessionIDPattern + `$`)
	fileRE = regexp.MustCompile(`^(` + SessionIDPattern + `)_`)
	viewRE = regexp.MustCompile(`^` + SessionIDPattern + `_v(\d+)_a(\d+)_`)
)

// FrameView returns the view and angle a frame's file name carries (ok is
// false when the name is not a capture frame's).
func FrameView(name string) (view, angle int, ok bool) {
	m := viewRE.FindStringSubmatch(name)
	if m == nil {
		return 0, 0, false
	}
	view, _ = strconv.Atoi(m[1])
	angle, _ = strconv.Atoi(m[2])
	return view, angle, true
}

// SessionOf returns the session id a frame's file name starts with, or ""
// when the name is not a capture frame's.
func SessionOf(name string) string {
	if m := fileRE.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return ""
}

// ValidID reports whether id has the form of a session id (so it is safe
// in a path).
func ValidID(id string) bool { return idRE.MatchString(id) }

func newID(now time.Time) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// frameName is the file name of shot k of view v.
func frameName(id string, v int, angle float64, k int) string {
	return fmt.Sprintf("%s_v%02d_a%03d_%02d.jpg", id, v, int(angle+0.5)%360, k)
}
