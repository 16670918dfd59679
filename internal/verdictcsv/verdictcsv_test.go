package verdictcsv

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"

	"github.com/pruefplatz/pruefplatz/inspector"
)

func TestRowsFollowTheHeader(t *testing.T) {
	var b bytes.Buffer
	w, err := NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 6, 0, 0, 0, time.FixedZone("CET", 3600))
	v := &inspector.Verdict{ID: 3, Time: at, Decision: inspector.Decision{Outcome: inspector.OutcomeNOK, Label: "dent",
		TopK: []inspector.Prediction{{Label: "dent", Score: 0.7}, {Label: "ok", Score: 0.3}}}}
	if err := w.Write(v); err != nil {
		t.Fatal(err)
	}
	v.AddReview(inspector.Review{Label: "ok", Outcome: inspector.OutcomeOK, By: "anna", At: at.Add(time.Minute), Confirmed: false})
	if err := w.Write(v); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
	get := func(row int, col string) string {
		for i, c := range Columns {
			if c == col {
				return rows[row][i]
			}
		}
		t.Fatalf("no column %s", col)
		return ""
	}
	for _, r := range rows {
		if len(r) != len(Columns) {
			t.Fatalf("row of %d cells, header has %d", len(r), len(Columns))
		}
	}
	if get(1, "time") != "2026-12-03T05:00:00Z" || get(1, "top_k") != "dent:0.7000 ok:0.3000" || get(1, "effective_label") != "dent" || get(1, "review_by") != "" {
		t.Errorf("unreviewed row %v", rows[1])
	}
	if get(2, "effective_outcome") != "ok" || get(2, "review_by") != "anna" || get(2, "review_at") != "2026-12-03T05:01:00Z" || get(2, "reviews") != "2026-12-03T05:01:00Z anna ok" {
		t.Errorf("reviewed row %v", rows[2])
	}
}
