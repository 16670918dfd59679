package stationui

import (
	"strings"
	"testing"

	"github.com/pruefplatz/pruefplatz/inspector/monitor"
)

// The report takes the station's monitor readings only for the model it is
// about: another model's drift must not appear in this model's document.
func TestMonitorFiguresForTheReportedModel(t *testing.T) {
	st := &monitor.Status{Model: "demo-defects/v1", Readings: []monitor.Reading{
		{Monitor: "score_drift", Value: 0.31, Threshold: 0.2, N: 500, State: monitor.StateAlarm},
		{Monitor: "class_mix", State: monitor.StateNoBaseline},
	}}
	if got := monitorFigures(st, "demo-defects/v2"); got != nil {
		t.Fatalf("another model's figures: %+v", got)
	}
	if got := monitorFigures(nil, "demo-defects/v1"); got != nil {
		t.Fatalf("figures before the first check: %+v", got)
	}
	got := monitorFigures(st, "demo-defects/v1")
	if len(got) != 2 {
		t.Fatalf("figures: %+v", got)
	}
	if !got[0].Alarm || !strings.Contains(got[0].Value, "0.310") || got[0].Threshold != "0.200" {
		t.Errorf("drift figure: %+v", got[0])
	}
	if got[1].Alarm || got[1].Value != monitor.StateNoBaseline || got[1].Threshold != "" {
		t.Errorf("class mix figure: %+v", got[1])
	}
}
