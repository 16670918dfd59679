// Package shiftstats turns verdicts into shift statistics: yield, defects
// by class, the uncertain share, the override rate and throughput, per
// shift, day and week, and per model version.
//
// Statistics are computed from counters, not from verdicts: each verdict
// adds one to the counter of its Key (its quarter hour, model, machine and
// effective result, review state). A store keeps those counters beside its
// verdicts and updates them in the same transaction, so a week's figures
// read a few thousand counters instead of a million verdicts.
//
// Counters are per quarter hour, not per hour, because every time zone's
// offset is a multiple of 15 minutes: a shift that starts on the hour in
// Kolkata (+05:30) still starts on a counter boundary.
package shiftstats

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// Slot is the counters' time resolution.
const Slot = 15 * time.Minute

// DemoTrigger marks verdicts that were made up as demo history (the demo
// feed's past day), so statistics can tell them apart from real ones.
const DemoTrigger = "demo-history"

// Key is what one counter counts: verdicts of one quarter hour with the
// same model, machine result, effective result and review state.
type Key struct {
	// Slot is the start of the quarter hour, Unix seconds (UTC).
	Slot int64
	// Model is "name/version".
	Model string
	// Outcome and Label are the machine's result.
	Outcome inspector.Outcome
	Label   string
	// EffOutcome and EffLabel are the result that counts (the review's, if any).
	EffOutcome inspector.Outcome
	EffLabel   string
	// Reviewed: a human reviewed the verdict. Overridden: see Overridden.
	Reviewed   bool
	Overridden bool
	// Demo marks demo history (Trigger == DemoTrigger).
	Demo bool
}

// KeyOf is the counter key of v in its current state.
func KeyOf(v *inspector.Verdict) Key {
	eo, el := v.Effective()
	reviewed := v.Review != nil && v.Review.Outcome != ""
	return Key{
		Slot:       SlotOf(v.Time),
		Model:      ModelName(v.Model),
		Outcome:    v.Outcome,
		Label:      v.Label,
		EffOutcome: eo,
		EffLabel:   el,
		Reviewed:   reviewed,
		Overridden: Overridden(v),
		Demo:       v.Trigger == DemoTrigger,
	}
}

// Overridden tells whether a human overruled the model on v: the model
// decided (not uncertain) and the effective review says otherwise. A human
// who settles an uncertain verdict resolves it; that is no override.
func Overridden(v *inspector.Verdict) bool {
	if v.Review == nil || v.Review.Outcome == "" || v.Outcome == inspector.OutcomeUncertain {
		return false
	}
	eo, el := v.Effective()
	return eo != v.Outcome || el != v.Label
}

// ModelName is how statistics name a model: "name/version".
func ModelName(m inspector.ModelRef) string {
	if m.Name == "" && m.Version == "" {
		return "unknown"
	}
	return m.Name + "/" + m.Version
}

// SlotOf is the start of t's quarter hour, Unix seconds.
func SlotOf(t time.Time) int64 {
	s := t.Unix()
	n := int64(Slot / time.Second)
	if s < 0 {
		return (s - n + 1) / n * n
	}
	return s / n * n
}

// ErrBadKey is returned by UnmarshalKey for bytes that MarshalKey did not write.
var ErrBadKey = errors.New("malformed statistics counter key")

// MarshalBinary encodes k with its slot first (8 bytes, big endian), so
// that keys sort by time and a time range is one cursor seek.
func (k Key) MarshalBinary() ([]byte, error) {
	fields := []string{k.Model, string(k.Outcome), k.Label, string(k.EffOutcome), k.EffLabel}
	for _, f := range fields {
		if strings.IndexByte(f, 0) >= 0 {
			return nil, fmt.Errorf("statistics key field %q holds a NUL byte", f)
		}
	}
	b := make([]byte, 8, 64)
	binary.BigEndian.PutUint64(b, uint64(k.Slot))
	var flags byte
	if k.Reviewed {
		flags |= 1
	}
	if k.Overridden {
		flags |= 2
	}
	if k.Demo {
		flags |= 4
	}
	b = append(b, flags)
	for _, f := range fields {
		b = append(b, f...)
		b = append(b, 0)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote; ErrBadKey otherwise.
func (k *Key) UnmarshalBinary(b []byte) error {
	if len(b) < 9 {
		return ErrBadKey
	}
	parts := strings.Split(string(b[9:]), "\x00")
	if len(parts) != 6 || parts[5] != "" {
		return ErrBadKey
	}
	flags := b[8]
	*k = Key{
		Slot: int64(binary.BigEndian.Uint64(b)), Model: parts[0],
		Outcome: inspector.Outcome(parts[1]), Label: parts[2],
		EffOutcome: inspector.Outcome(parts[3]), EffLabel: parts[4],
		Reviewed: flags&1 != 0, Overridden: flags&2 != 0, Demo: flags&4 != 0,
	}
	return nil
}

// SlotKeyPrefix is the 8-byte prefix of every key of the slot that holds t.
func SlotKeyPrefix(t time.Time) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(SlotOf(t)))
	return b
}

// Count is one counter's value.
type Count struct {
	Key
	N int64
}

// Counts is a set of counters, as a store returns them for a time range.
type Counts []Count

// Tally accumulates counters in memory; stores and tests use it to
// compute what the counters of a set of verdicts must be.
type Tally map[Key]int64

// Add counts v (delta +1) or removes it (delta -1).
func (t Tally) Add(v *inspector.Verdict, delta int64) {
	k := KeyOf(v)
	t[k] += delta
	if t[k] == 0 {
		delete(t, k)
	}
}

// Counts returns the tally's non-zero counters.
func (t Tally) Counts() Counts {
	out := make(Counts, 0, len(t))
	for k, n := range t {
		if n != 0 {
			out = append(out, Count{Key: k, N: n})
		}
	}
	return out
}
