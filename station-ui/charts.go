package stationui

import (
	"sort"
	"strconv"

	"github.com/go-analyze/charts"

	"github.com/pruefplatz/pruefplatz/inspector/monitor"
	"github.com/pruefplatz/pruefplatz/inspector/shiftstats"
)

// Chart kinds of GET /api/stats/chart/:kind.
const (
	chartTrend      = "trend"      // yield, uncertain share and override rate over the trend periods
	chartThroughput = "throughput" // parts per period
	chartPareto     = "pareto"     // NOK by defect class
	chartModels     = "models"     // yield and override rate per model version
)

// renderChart draws one chart of r as SVG with go-analyze/charts.
func renderChart(kind string, r *shiftstats.Report, text pageText) ([]byte, error) {
	size := charts.DimensionsOptionFunc(640, 300)
	svg := charts.SVGOutputOptionFunc()
	var (
		p   *charts.Painter
		err error
	)
	switch kind {
	case chartTrend:
		var labels []string
		yield, unc, ovr := []float64{}, []float64{}, []float64{}
		for _, row := range r.Trend {
			labels = append(labels, row.Name)
			yield = append(yield, pct(row.Yield, row.Total))
			unc = append(unc, pct(row.UncertainShare, row.Total))
			ovr = append(ovr, pct(row.OverrideRate, row.ReviewedDecided))
		}
		p, err = charts.LineRender([][]float64{yield, unc, ovr}, svg, size,
			charts.TitleTextOptionFunc(text.T("stats.chart_trend")),
			charts.XAxisLabelsOptionFunc(labels),
			charts.LegendLabelsOptionFunc([]string{text.T("stats.yield"), text.T("stats.uncertain"), text.T("stats.override")}),
			charts.YAxisOptionFunc(charts.YAxisOption{Min: charts.Ptr(0.0), Max: charts.Ptr(100.0), Unit: 25}))
	case chartThroughput:
		var labels []string
		n := []float64{}
		for _, row := range r.Trend {
			labels = append(labels, row.Name)
			n = append(n, float64(row.Total))
		}
		p, err = charts.BarRender([][]float64{n}, svg, size,
			charts.TitleTextOptionFunc(text.T("stats.chart_throughput")),
			charts.XAxisLabelsOptionFunc(labels))
	case chartPareto:
		labels := []string{}
		n := []float64{}
		for _, d := range r.Total.Defects {
			labels = append(labels, d.Label)
			n = append(n, float64(d.N))
		}
		if len(n) == 0 {
			labels, n = []string{"—"}, []float64{0}
		}
		p, err = charts.BarRender([][]float64{n}, svg, size,
			charts.TitleTextOptionFunc(text.T("stats.chart_pareto")),
			charts.XAxisLabelsOptionFunc(labels),
			charts.YAxisOptionFunc(charts.YAxisOption{Min: charts.Ptr(0.0)}))
	case chartModels:
		labels := []string{}
		yield, ovr := []float64{}, []float64{}
		for _, m := range r.Models {
			labels = append(labels, m.Model)
			yield = append(yield, pct(m.Yield, m.Total))
			ovr = append(ovr, pct(m.OverrideRate, m.ReviewedDecided))
		}
		if len(labels) == 0 {
			labels, yield, ovr = []string{"—"}, []float64{0}, []float64{0}
		}
		for i := range ovr {
			if ovr[i] == charts.GetNullValue() {
				ovr[i] = 0 // a bar chart has no gaps; no reviews draws no bar
			}
		}
		p, err = charts.BarRender([][]float64{yield, ovr}, svg, size,
			charts.TitleTextOptionFunc(text.T("stats.chart_models")),
			charts.XAxisLabelsOptionFunc(labels),
			charts.LegendLabelsOptionFunc([]string{text.T("stats.yield"), text.T("stats.override")}),
			charts.YAxisOptionFunc(charts.YAxisOption{Min: charts.Ptr(0.0), Max: charts.Ptr(100.0), Unit: 25}))
	default:
		return nil, badRequest("chart %q (want trend, throughput, pareto or models)", kind)
	}
	if err != nil {
		return nil, err
	}
	return p.Bytes()
}

// pct is a share in percent; a period with nothing to count is a gap in
// the line, not a drop to 0.
func pct(share float64, n int64) float64 {
	if n == 0 {
		return charts.GetNullValue()
	}
	return 100 * share
}

// Monitor chart kinds of GET /api/monitor/chart/:kind.
const (
	chartScores  = "scores"  // live top-score histogram against the card's validation one
	chartClasses = "classes" // live class mix against the training set's
)

// renderMonitorChart draws the two distributions a monitor compares, as
// shares in percent, so windows and training sets of any size compare.
func renderMonitorChart(kind string, st *monitor.Status, text pageText) ([]byte, error) {
	var labels, legend []string
	var series [][]float64
	switch kind {
	case chartScores:
		live := st.LiveScores
		for i := range live.Bins {
			labels = append(labels, strconv.FormatFloat(float64(i)/float64(live.Bins), 'f', 1, 64))
		}
		legend = []string{text.T("monitor.live")}
		series = [][]float64{shares(live.Counts)}
		if b := st.BaselineScores; b != nil && b.Bins == live.Bins {
			legend = append(legend, text.T("monitor.validation"))
			series = append(series, shares(b.Counts))
		}
	case chartClasses:
		seen := map[string]bool{}
		for c := range st.TrainingClasses {
			seen[c] = true
		}
		for c := range st.LiveClasses {
			seen[c] = true
		}
		for c := range seen {
			labels = append(labels, c)
		}
		sort.Strings(labels)
		live, train := make([]int64, len(labels)), make([]int64, len(labels))
		for i, c := range labels {
			live[i], train[i] = int64(st.LiveClasses[c]), int64(st.TrainingClasses[c])
		}
		legend = []string{text.T("monitor.live"), text.T("monitor.training")}
		series = [][]float64{shares(live), shares(train)}
	default:
		return nil, badRequest("monitor chart %q (want scores or classes)", kind)
	}
	if len(labels) == 0 {
		labels, series = []string{"—"}, [][]float64{{0}}
	}
	p, err := charts.BarRender(series, charts.SVGOutputOptionFunc(), charts.DimensionsOptionFunc(640, 260),
		charts.TitleTextOptionFunc(text.T("monitor.chart_"+kind)),
		charts.XAxisLabelsOptionFunc(labels),
		charts.LegendLabelsOptionFunc(legend),
		charts.YAxisOptionFunc(charts.YAxisOption{Min: charts.Ptr(0.0)}))
	if err != nil {
		return nil, err
	}
	return p.Bytes()
}

// shares turns counts into percentages of their sum (all 0 for no counts).
func shares(counts []int64) []float64 {
	var total int64
	for _, c := range counts {
		total += c
	}
	out := make([]float64, len(counts))
	for i, c := range counts {
		if total > 0 {
			out[i] = 100 * float64(c) / float64(total)
		}
	}
	return out
}
