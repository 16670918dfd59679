package shiftstats

import (
	"fmt"
	"sort"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

// View is the span a report covers.
type View string

// Views.
const (
	ViewShift View = "shift" // one shift, rows per hour
	ViewDay   View = "day"   // one day's shifts, rows per shift
	ViewWeek  View = "week"  // Monday to Sunday, rows per day
)

// Summary holds the figures of one period.
type Summary struct {
	// Total counts every verdict; the outcome counts use the effective
	// result (a review's, if any).
	Total     int64 `json:"total"`
	OK        int64 `json:"ok"`
	NOK       int64 `json:"nok"`
	Class     int64 `json:"class"`
	Uncertain int64 `json:"uncertain"`
	// MachineUncertain counts the verdicts the model left to a human,
	// whatever the human decided later.
	MachineUncertain int64 `json:"machine_uncertain"`
	Reviewed         int64 `json:"reviewed"`
	// ReviewedDecided counts the reviewed verdicts the model had decided
	// (not uncertain): the ones a human could overrule.
	ReviewedDecided int64 `json:"reviewed_decided"`
	Overridden      int64 `json:"overridden"`
	Demo            int64 `json:"demo"`
	// Yield is OK / (OK + NOK + still uncertain): the share of judged
	// parts that passed. 0 when there is nothing to judge.
	Yield float64 `json:"yield"`
	// UncertainShare is MachineUncertain / Total.
	UncertainShare float64 `json:"uncertain_share"`
	// OverrideRate is Overridden / ReviewedDecided: how often a human who
	// looked at a decided verdict disagreed with the model.
	OverrideRate float64 `json:"override_rate"`
	// PerHour is Total over the period's elapsed hours (up to now).
	PerHour float64 `json:"per_hour"`
	// Defects is NOK by effective defect class, largest first (Pareto).
	Defects []ClassCount `json:"defects"`
}

// ClassCount is one class's count and its cumulative share (Pareto).
type ClassCount struct {
	Label      string  `json:"label"`
	N          int64   `json:"n"`
	Cumulative float64 `json:"cumulative"`
}

// Row is one period's summary.
type Row struct {
	Period
	Summary
}

// ModelRow is one model version's summary over the report's span.
type ModelRow struct {
	Model string `json:"model"`
	Summary
}

// Report is the statistics of one view.
type Report struct {
	View     View     `json:"view"`
	Period   Period   `json:"period"`
	Timezone string   `json:"timezone"`
	Shifts   []string `json:"shifts"`
	Total    Summary  `json:"total"`
	Rows     []Row    `json:"rows"`
	// Trend is the span in finer steps for the trend charts: hours for a
	// shift or a day, days for a week.
	Trend  []Row      `json:"trend"`
	Models []ModelRow `json:"models"`
	// DemoExcluded is true when demo history was left out.
	DemoExcluded bool `json:"demo_excluded"`
}

// Query selects a report.
type Query struct {
	View View
	// At is any time in the shift, day or week wanted.
	At time.Time
	// Shift is the shift's index (ViewShift only).
	Shift int
	// ExcludeDemo leaves demo history out.
	ExcludeDemo bool
	// Now bounds throughput to the time elapsed in a running period.
	Now time.Time
}

// Span returns the period q covers and its rows' periods; the store reads
// the counters of the span, Build computes the report from them.
func (sc Schedule) Span(q Query) (Period, []Period, error) {
	switch q.View {
	case ViewShift:
		if q.Shift < 0 || q.Shift >= len(sc.Shifts) {
			return Period{}, nil, fmt.Errorf("%w: shift %d (have %d)", ErrSchedule, q.Shift+1, len(sc.Shifts))
		}
		p := sc.ShiftPeriod(q.At, q.Shift)
		p.Name = sc.Day(q.At).Format("2006-01-02") + " " + p.Name
		return p, hours(p, sc.Loc), nil
	case ViewDay, "":
		p := sc.DayPeriod(q.At)
		rows := make([]Period, len(sc.Shifts))
		for i := range sc.Shifts {
			rows[i] = sc.ShiftPeriod(q.At, i)
		}
		return p, rows, nil
	case ViewWeek:
		ws := sc.WeekStart(q.At)
		var rows []Period
		for i := range 7 {
			d := time.Date(ws.Year(), ws.Month(), ws.Day()+i, 0, 0, 0, 0, sc.Loc)
			rows = append(rows, sc.DayPeriod(d))
		}
		p := Period{Name: "week of " + ws.Format("2006-01-02"), Start: rows[0].Start, End: rows[6].End}
		return p, rows, nil
	}
	return Period{}, nil, fmt.Errorf("%w: view %q (want shift, day or week)", ErrSchedule, q.View)
}

// Build computes the report of q from counts, which must hold at least
// the counters of q's span (see Span).
func (sc Schedule) Build(q Query, counts Counts) (*Report, error) {
	span, rows, err := sc.Span(q)
	if err != nil {
		return nil, err
	}
	if q.View == "" {
		q.View = ViewDay
	}
	r := &Report{View: q.View, Period: span, Timezone: sc.Loc.String(), DemoExcluded: q.ExcludeDemo}
	for _, s := range sc.Shifts {
		r.Shifts = append(r.Shifts, s.label())
	}
	acc := func(p Period, keep func(Key) bool) Summary {
		var a accum
		lo, hi := p.Start.Unix(), p.End.Unix()
		for _, c := range counts {
			if c.Slot < lo || c.Slot >= hi || (q.ExcludeDemo && c.Demo) || (keep != nil && !keep(c.Key)) {
				continue
			}
			a.add(c)
		}
		return a.summary(p, q.Now)
	}
	r.Total = acc(span, nil)
	for _, p := range rows {
		r.Rows = append(r.Rows, Row{Period: p, Summary: acc(p, nil)})
	}
	trend := rows
	if q.View != ViewWeek {
		trend = hours(span, sc.Loc)
	}
	for _, p := range trend {
		r.Trend = append(r.Trend, Row{Period: p, Summary: acc(p, nil)})
	}
	models := map[string]bool{}
	for _, c := range counts {
		models[c.Model] = true
	}
	names := make([]string, 0, len(models))
	for m := range models {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		s := acc(span, func(k Key) bool { return k.Model == m })
		if s.Total > 0 {
			r.Models = append(r.Models, ModelRow{Model: m, Summary: s})
		}
	}
	return r, nil
}

// hours splits p into hours (the last one shorter if p ends off the hour).
func hours(p Period, loc *time.Location) []Period {
	var out []Period
	for t := p.Start; t.Before(p.End); t = t.Add(time.Hour) {
		e := t.Add(time.Hour)
		if e.After(p.End) {
			e = p.End
		}
		out = append(out, Period{Name: t.In(loc).Format("15:04"), Start: t, End: e})
	}
	return out
}

type accum struct {
	s       Summary
	defects map[string]int64
}

func (a *accum) add(c Count) {
	s := &a.s
	s.Total += c.N
	switch c.EffOutcome {
	case inspector.OutcomeOK:
		s.OK += c.N
	case inspector.OutcomeNOK:
		s.NOK += c.N
		if a.defects == nil {
			a.defects = map[string]int64{}
		}
		a.defects[c.EffLabel] += c.N
	case inspector.OutcomeClass:
		s.Class += c.N
	case inspector.OutcomeUncertain:
		s.Uncertain += c.N
	}
	if c.Outcome == inspector.OutcomeUncertain {
		s.MachineUncertain += c.N
	}
	if c.Reviewed {
		s.Reviewed += c.N
		if c.Outcome != inspector.OutcomeUncertain {
			s.ReviewedDecided += c.N
		}
	}
	if c.Overridden {
		s.Overridden += c.N
	}
	if c.Demo {
		s.Demo += c.N
	}
}

func (a *accum) summary(p Period, now time.Time) Summary {
	s := a.s
	s.Yield = ratio(s.OK, s.OK+s.NOK+s.Uncertain)
	s.UncertainShare = ratio(s.MachineUncertain, s.Total)
	s.OverrideRate = ratio(s.Overridden, s.ReviewedDecided)
	end := p.End
	if !now.IsZero() && now.Before(end) {
		end = now
	}
	if h := end.Sub(p.Start).Hours(); h > 0 {
		s.PerHour = float64(s.Total) / h
	}
	s.Defects = []ClassCount{}
	for l, n := range a.defects {
		s.Defects = append(s.Defects, ClassCount{Label: l, N: n})
	}
	sort.Slice(s.Defects, func(i, j int) bool {
		if s.Defects[i].N != s.Defects[j].N {
			return s.Defects[i].N > s.Defects[j].N
		}
		return s.Defects[i].Label < s.Defects[j].Label
	})
	var cum int64
	for i := range s.Defects {
		cum += s.Defects[i].N
		s.Defects[i].Cumulative = ratio(cum, s.NOK)
	}
	return s
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
