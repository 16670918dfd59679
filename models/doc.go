package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/internal/atomicfile"
)

// Doc is what the provider states about a model version for its technical
// documentation: what it is for, where it must not be trusted, and the
// risk category the provider chose with the reason. The station never reads
// it; the report (models/report) prints it.
type Doc struct {
	IntendedUse  string `json:"intended_use,omitempty"`
	Limitations  string `json:"limitations,omitempty"`
	RiskCategory string `json:"risk_category,omitempty"`
	RiskReason   string `json:"risk_reason,omitempty"`
}

// DocRevision is one version of a card's Doc: the full text as it was set,
// by whom and when. A card's DocHistory lists them oldest first; the last
// is the card's current Doc.
type DocRevision struct {
	Doc
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Risk categories a provider may choose, after the EU AI Act's tiers
// (prohibited practices are not a category a station can be in).
const (
	RiskMinimal = "minimal"
	RiskLimited = "limited"
	RiskHigh    = "high"
)

// RiskCategories lists the valid values of Doc.RiskCategory.
var RiskCategories = []string{RiskMinimal, RiskLimited, RiskHigh}

// ErrBadDoc is returned for a Doc edit that cannot be recorded: an unknown
// risk category, or a category without a reason.
var ErrBadDoc = errors.New("invalid model documentation")

// Validate returns an error wrapping ErrBadDoc when the risk category is
// not one of RiskCategories, or is set without a reason.
func (d Doc) Validate() error {
	if d.RiskCategory == "" {
		return nil
	}
	if !contains(RiskCategories, d.RiskCategory) {
		return fmt.Errorf("%w: risk category %q (want one of %s)", ErrBadDoc, d.RiskCategory, strings.Join(RiskCategories, ", "))
	}
	if strings.TrimSpace(d.RiskReason) == "" {
		return fmt.Errorf("%w: risk category %q needs a reason (--risk-reason)", ErrBadDoc, d.RiskCategory)
	}
	return nil
}

// DocEdit changes some of a Doc's fields; nil fields stay as they are.
type DocEdit struct {
	IntendedUse, Limitations, RiskCategory, RiskReason *string
}

// Apply returns d with the edit's non-nil fields set.
func (e DocEdit) Apply(d Doc) Doc {
	for _, f := range []struct {
		v   *string
		dst *string
	}{{e.IntendedUse, &d.IntendedUse}, {e.Limitations, &d.Limitations}, {e.RiskCategory, &d.RiskCategory}, {e.RiskReason, &d.RiskReason}} {
		if f.v != nil {
			*f.dst = strings.TrimSpace(*f.v)
		}
	}
	return d
}

// SetDoc records d as the card's Doc, set by whom at when, and keeps the
// earlier text in DocHistory (a Doc written without history, by hand, is
// kept as a revision by "" at the card's creation). It returns false when
// d equals the current Doc (nothing recorded) and an error wrapping
// ErrBadDoc for an invalid d.
func (c *Card) SetDoc(d Doc, by string, at time.Time) (bool, error) {
	if err := d.Validate(); err != nil {
		return false, err
	}
	if d == c.Doc {
		return false, nil
	}
	if len(c.DocHistory) == 0 && c.Doc != (Doc{}) {
		c.DocHistory = append(c.DocHistory, DocRevision{Doc: c.Doc, At: c.Created})
	}
	c.DocHistory = append(c.DocHistory, DocRevision{Doc: d, By: by, At: at.UTC()})
	c.Doc = d
	return true, nil
}

// EditDoc applies edit to the card of name/version and rewrites its
// card.json atomically, recording who edited it and when (Card.SetDoc).
// The model files are not touched, so the card's sha256s and every
// verdict's model reference stay valid. It returns ErrNoModel, ErrTampered
// when the version's files no longer match its card (an edit must not
// launder a tampered model), ErrBadDoc, or the write error; on any error the
// card is unchanged. Edits are not locked against each other: run one at a
// time.
func (r Registry) EditDoc(name, version string, edit DocEdit, by string, at time.Time) (*Card, error) {
	return r.rewriteCard(name, version, func(c *Card) (bool, error) {
		return c.SetDoc(edit.Apply(c.Doc), by, at)
	})
}

// SetQuality records q as the card's data-quality checks, replacing any
// earlier ones, under the same rules as EditDoc.
func (r Registry) SetQuality(name, version string, q *Quality) (*Card, error) {
	return r.rewriteCard(name, version, func(c *Card) (bool, error) {
		c.Quality = q
		return true, nil
	})
}

// SetScoreBaseline records h as the card's validation top-score histogram
// (the drift monitor's baseline) when the card has none; a card trained
// with one keeps it. It reports whether it wrote the card.
func (r Registry) SetScoreBaseline(name, version string, h *monitor.Histogram) (bool, error) {
	wrote := false
	_, err := r.rewriteCard(name, version, func(c *Card) (bool, error) {
		if c.ScoreBaseline != nil || h == nil {
			return false, nil
		}
		c.ScoreBaseline, wrote = h, true
		return true, nil
	})
	return wrote, err
}

func (r Registry) rewriteCard(name, version string, change func(*Card) (bool, error)) (*Card, error) {
	c, err := r.Get(name, version)
	if err != nil {
		return nil, err
	}
	if err := r.Verify(c); err != nil {
		return nil, err
	}
	changed, err := change(c)
	if err != nil || !changed {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(r.Dir(c.Name, c.Version), CardFile), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("%s/%s: %w", c.Name, c.Version, err)
	}
	return c, nil
}
