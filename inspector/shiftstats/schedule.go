package shiftstats

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrSchedule is returned for a shift definition that cannot be used.
var ErrSchedule = errors.New("invalid shift schedule")

// Shift is one shift of the day in local wall-clock time. End at or before
// Start means the shift runs past midnight; it belongs to the day it started.
type Shift struct {
	Name  string `json:"name"`
	Start int    `json:"start_minute"` // minutes after local midnight
	End   int    `json:"end_minute"`
}

// Schedule is the station's shifts in its time zone.
type Schedule struct {
	Shifts []Shift
	Loc    *time.Location
}

// DefaultShifts is three eight-hour shifts starting at 06:00.
const DefaultShifts = "06:00-14:00,14:00-22:00,22:00-06:00"

// ParseSchedule reads "06:00-14:00,14:00-22:00,22:00-06:00". Times are
// local to loc and must fall on a quarter hour (the counters' resolution);
// shifts must not overlap. It returns an error wrapping ErrSchedule.
func ParseSchedule(spec string, loc *time.Location) (Schedule, error) {
	if loc == nil {
		loc = time.Local
	}
	var sc Schedule
	sc.Loc = loc
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		a, b, ok := strings.Cut(part, "-")
		if !ok {
			return sc, fmt.Errorf("%w: %q: want HH:MM-HH:MM", ErrSchedule, part)
		}
		start, err := parseClock(a)
		if err != nil {
			return sc, fmt.Errorf("%w: %q: %v", ErrSchedule, part, err)
		}
		end, err := parseClock(b)
		if err != nil {
			return sc, fmt.Errorf("%w: %q: %v", ErrSchedule, part, err)
		}
		if start == end {
			end = start // a 24-hour shift: End == Start
		}
		sc.Shifts = append(sc.Shifts, Shift{Name: fmt.Sprintf("%d", i+1), Start: start, End: end})
	}
	if len(sc.Shifts) == 0 {
		return sc, fmt.Errorf("%w: no shifts", ErrSchedule)
	}
	// Overlap: mark the minutes of a day each shift covers.
	var used [24 * 60]int
	for i, s := range sc.Shifts {
		for m := s.Start; ; m = (m + 1) % (24 * 60) {
			if used[m] != 0 {
				return sc, fmt.Errorf("%w: shift %s overlaps shift %d", ErrSchedule, s.label(), used[m])
			}
			used[m] = i + 1
			if (m+1)%(24*60) == s.End {
				break
			}
		}
	}
	return sc, nil
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	m := t.Hour()*60 + t.Minute()
	if m%int(Slot/time.Minute) != 0 {
		return 0, fmt.Errorf("time %q is not on a quarter hour", s)
	}
	return m, nil
}

func (s Shift) label() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", s.Start/60, s.Start%60, s.End/60, s.End%60)
}

// Label is the shift's "HH:MM-HH:MM".
func (s Shift) Label() string { return s.label() }

// Period is a stretch of time statistics are computed over.
type Period struct {
	Name  string    `json:"name"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Day is local midnight of the calendar day that holds t.
func (sc Schedule) Day(t time.Time) time.Time {
	t = t.In(sc.Loc)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, sc.Loc)
}

// ShiftPeriod is the i-th shift that starts on day (any time of that
// local calendar day). Start and end are wall-clock times, so on the day
// clocks change a shift is an hour shorter or longer.
func (sc Schedule) ShiftPeriod(day time.Time, i int) Period {
	d := sc.Day(day)
	s := sc.Shifts[i]
	start := time.Date(d.Year(), d.Month(), d.Day(), s.Start/60, s.Start%60, 0, 0, sc.Loc)
	endDay := d.Day()
	if s.End <= s.Start {
		endDay++
	}
	end := time.Date(d.Year(), d.Month(), endDay, s.End/60, s.End%60, 0, 0, sc.Loc)
	return Period{Name: s.label(), Start: start, End: end}
}

// DayPeriod runs from the day's first shift start to its last shift end,
// so a night shift that started that day counts to it in full.
func (sc Schedule) DayPeriod(day time.Time) Period {
	d := sc.Day(day)
	p := Period{Name: d.Format("2006-01-02")}
	for i := range sc.Shifts {
		sp := sc.ShiftPeriod(d, i)
		if p.Start.IsZero() || sp.Start.Before(p.Start) {
			p.Start = sp.Start
		}
		if sp.End.After(p.End) {
			p.End = sp.End
		}
	}
	return p
}

// ShiftAt returns the shift that t falls into and the day it belongs to
// (the day it started); ok is false when t is in no shift.
func (sc Schedule) ShiftAt(t time.Time) (day time.Time, shift int, ok bool) {
	d := sc.Day(t)
	for _, dd := range []time.Time{d, d.AddDate(0, 0, -1)} {
		for i := range sc.Shifts {
			p := sc.ShiftPeriod(dd, i)
			if !t.Before(p.Start) && t.Before(p.End) {
				return dd, i, true
			}
		}
	}
	return time.Time{}, 0, false
}

// WeekStart is local midnight of the Monday of t's week (ISO weeks).
func (sc Schedule) WeekStart(t time.Time) time.Time {
	d := sc.Day(t)
	wd := (int(d.Weekday()) + 6) % 7 // Monday = 0
	return time.Date(d.Year(), d.Month(), d.Day()-wd, 0, 0, 0, 0, sc.Loc)
}
