package shiftstats

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVColumns is the header of WriteCSV's rows.
var CSVColumns = []string{"kind", "name", "start", "end", "total", "ok", "nok", "class", "uncertain",
	"machine_uncertain", "reviewed", "overridden", "demo", "yield", "uncertain_share", "override_rate",
	"per_hour", "defects"}

// WriteCSV writes the report as CSV: one "total" row, one "row" per
// shift, hour or day, and one "model" row per model version. Times are
// RFC 3339 in UTC, as in the verdict export; defects are "label=n" pairs,
// largest first.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVColumns); err != nil {
		return err
	}
	write := func(kind, name string, p Period, s Summary) error {
		var defects []string
		for _, d := range s.Defects {
			defects = append(defects, d.Label+"="+strconv.FormatInt(d.N, 10))
		}
		i := func(n int64) string { return strconv.FormatInt(n, 10) }
		f := func(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }
		return cw.Write([]string{kind, name, stamp(p.Start), stamp(p.End), i(s.Total), i(s.OK), i(s.NOK), i(s.Class),
			i(s.Uncertain), i(s.MachineUncertain), i(s.Reviewed), i(s.Overridden), i(s.Demo), f(s.Yield),
			f(s.UncertainShare), f(s.OverrideRate), f(s.PerHour), strings.Join(defects, " ")})
	}
	if err := write("total", r.Period.Name, r.Period, r.Total); err != nil {
		return err
	}
	for _, row := range r.Rows {
		if err := write("row", row.Name, row.Period, row.Summary); err != nil {
			return err
		}
	}
	for _, m := range r.Models {
		if err := write("model", m.Model, r.Period, m.Summary); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
