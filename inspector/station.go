package inspector

import (
	"context"
	"time"
)

// SourceState says whether frames are arriving.
type SourceState string

const (
	SourceConnecting   SourceState = "connecting"
	SourceLive         SourceState = "live"
	SourceDisconnected SourceState = "disconnected"
	SourceEnded        SourceState = "ended"
)

// SourceStates lists every SourceState, for metrics that report each.
func SourceStates() []SourceState {
	return []SourceState{SourceConnecting, SourceLive, SourceDisconnected, SourceEnded}
}

// TriggerMode says when the station records a verdict.
type TriggerMode string

const (
	// TriggerContinuous classifies every frame and records once per part, when
	// the same result has held for N frames while a part is present.
	TriggerContinuous TriggerMode = "continuous"
	// TriggerManual records only on request (button, key, POST /api/trigger).
	TriggerManual TriggerMode = "manual"
	// TriggerAuto records when a part has been placed and has stopped moving.
	TriggerAuto TriggerMode = "auto"
)

// StationStatus is a snapshot for /api/status and the UI.
type StationStatus struct {
	Source      string      `json:"source"`
	SourceState SourceState `json:"source_state"`
	SourceError string      `json:"source_error,omitempty"`
	FPS         float64     `json:"fps"`
	Frames      uint64      `json:"frames"`
	Dropped     uint64      `json:"dropped"`
	Trigger     TriggerMode `json:"trigger"`
	Model       ModelRef    `json:"model"`
	ModelError  string      `json:"model_error,omitempty"`
	PartPresent bool        `json:"part_present"`
	// Live is the latest frame's decision (not recorded), nil before the first.
	Live *Decision `json:"live,omitempty"`
	// StoreSize is the verdict store's file size. The station does not
	// know it; the web UI fills it from the store (Stats) when it answers.
	StoreSize int64     `json:"store_size_bytes"`
	StoreErr  string    `json:"store_error,omitempty"`
	Started   time.Time `json:"started"`
}

// EventKind names what happened.
type EventKind string

const (
	// EventLive carries the decision on the newest frame (throttled; not stored).
	EventLive EventKind = "live"
	// EventVerdict carries a verdict that was just recorded.
	EventVerdict EventKind = "verdict"
	// EventReview carries a verdict whose review changed.
	EventReview EventKind = "review"
	// EventStatus carries a status change (source state, model swap).
	EventStatus EventKind = "status"
	// EventAlarm carries an alarm from a part of the station that needs a
	// person (a webhook that disabled itself); integrations forward it.
	EventAlarm EventKind = "alarm"
)

// Alarm says what needs a person's attention.
type Alarm struct {
	// Source names the part that raised it, e.g. "webhook/shift-lead".
	Source  string `json:"source"`
	Message string `json:"message"`
}

// Event is pushed to UI subscribers (server-sent events).
type Event struct {
	Kind EventKind `json:"kind"`
	Time time.Time `json:"time"`
	Live *Decision `json:"live,omitempty"`
	// PartPresent says, with a live decision, whether a part lies in the
	// ROI: on the empty table the classifier still answers, and that answer
	// must not look like a verdict.
	PartPresent bool           `json:"part_present,omitempty"`
	Verdict     *Verdict       `json:"verdict,omitempty"`
	Status      *StationStatus `json:"status,omitempty"`
	Alarm       *Alarm         `json:"alarm,omitempty"`
}

// Station is what the web UI needs from the running station. inspector/station
// implements it; the UI tests use fakes.
type Station interface {
	Status() StationStatus
	// Subscribe returns a channel of events until ctx ends. A slow
	// subscriber loses events rather than slowing the station.
	Subscribe(ctx context.Context) <-chan Event
	// Publish hands an event from outside the station's loop (a review
	// made through the UI) to the same subscribers.
	Publish(e Event)
	// LatestJPEG returns the newest annotated frame and its sequence number
	// (0 and nil before the first frame).
	LatestJPEG() ([]byte, uint64)
	// Trigger records a verdict on the newest frame now.
	Trigger(ctx context.Context) (*Verdict, error)
	// ClassifyImage classifies an uploaded image with the active model and
	// stores the verdict when store is true. Errors wrap ErrBadImage or
	// ErrImageTooLarge for bad uploads.
	ClassifyImage(ctx context.Context, data []byte, store bool) (*Verdict, error)
	// Labels are the active model's labels, in output order.
	Labels() []string
	// OKLabels are the active model's OK labels (empty for a parts model).
	OKLabels() []string
	// ActivateModel loads, validates and warms name/version, then swaps it in;
	// on error the old model keeps serving.
	ActivateModel(ctx context.Context, name, version string) error
}
