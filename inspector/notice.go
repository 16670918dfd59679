package inspector

import (
	"strconv"
	"strings"
	"time"
)

// Notice is what the station tells other systems (MQTT, webhooks) about a
// recorded verdict or a review: one shape for every integration, so an MES
// reading MQTT and a webhook receiver see the same fields. Receivers dedupe
// by ID with Kind: delivery is at least once.
type Notice struct {
	Kind       EventKind       `json:"kind"` // "verdict" or "review"
	ID         uint64          `json:"id"`
	Time       time.Time       `json:"time"`
	Station    string          `json:"station"`
	Source     string          `json:"source"`
	Trigger    string          `json:"trigger"`
	Model      ModelRef        `json:"model"`
	Outcome    Outcome         `json:"outcome"` // the machine's
	Label      string          `json:"label"`   // the machine's
	Scores     []Prediction    `json:"scores"`
	Thresholds Thresholds      `json:"thresholds"`
	Effective  EffectiveResult `json:"effective"` // what counts, after any review
	Review     *Review         `json:"review,omitempty"`
	// Image links to the verdict's frame on the station's web API (it
	// needs a login or API token), empty without a base URL.
	Image string `json:"image,omitempty"`
}

// NewNotice describes v for other systems. kind is EventVerdict or
// EventReview; baseURL is the station's web address ("" for no image link).
func NewNotice(kind EventKind, v *Verdict, station, baseURL string) Notice {
	o, l := v.Effective()
	n := Notice{
		Kind: kind, ID: v.ID, Time: v.Time.UTC(), Station: station, Source: v.Source, Trigger: v.Trigger,
		Model: v.Model, Outcome: v.Outcome, Label: v.Label, Scores: v.TopK, Thresholds: v.Thresholds,
		Effective: EffectiveResult{Outcome: o, Label: l, Reviewed: v.Review != nil && v.Review.Outcome != ""},
		Review:    v.Review,
	}
	if baseURL != "" {
		n.Image = strings.TrimRight(baseURL, "/") + "/api/verdicts/" + strconv.FormatUint(v.ID, 10) + "/image"
	}
	return n
}
