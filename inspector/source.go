package inspector

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors shared by adapters.
var (
	// ErrSourceClosed is returned by Source.Read after Close.
	ErrSourceClosed = errors.New("source closed")
	// ErrSourceEnded is returned by Source.Read when a non-looping file source has no more frames.
	ErrSourceEnded = errors.New("source ended")
	// ErrModelShape is returned when a model's inputs or outputs do not match its card.
	ErrModelShape = errors.New("model shape does not match card")
	// ErrNotFound is returned by stores for an unknown id.
	ErrNotFound = errors.New("not found")
	// ErrBadImage is returned for bytes that are not a decodable image.
	ErrBadImage = errors.New("not a decodable image")
	// ErrImageTooLarge is returned for images whose size exceeds the configured limit.
	ErrImageTooLarge = errors.New("image too large")
)

// Classifier runs a model on one preprocessed input tensor (see InputSpec)
// and returns one score per label (logits or probabilities, as Probabilities says).
type Classifier interface {
	Classify(ctx context.Context, input []float32) ([]float32, error)
	Close() error
}

// VerdictQuery filters verdict listings. Zero values mean "no filter".
type VerdictQuery struct {
	From, To time.Time
	Label    string
	Outcome  Outcome
	Limit    int
	// Before pages backwards: only ids lower than Before (0: from the newest).
	Before uint64
}

// StoreStats describe a verdict store for /api/status.
type StoreStats struct {
	Count     int       `json:"count"`
	SizeBytes int64     `json:"size_bytes"`
	Oldest    time.Time `json:"oldest"`
	Newest    time.Time `json:"newest"`
}

// VerdictStore records verdicts durably.
type VerdictStore interface {
	// Add stores v, assigns v.ID and returns only after the record is committed.
	Add(ctx context.Context, v *Verdict) error
	Get(ctx context.Context, id uint64) (*Verdict, error)
	// List returns matching verdicts newest first, without images.
	List(ctx context.Context, q VerdictQuery) ([]Verdict, error)
	SetReview(ctx context.Context, id uint64, r Review) error
	Close() error
}
