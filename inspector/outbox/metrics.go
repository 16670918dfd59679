package outbox

import "github.com/prometheus/client_golang/prometheus"

var (
	descDepth    = prometheus.NewDesc("pruefplatz_outbox_depth", "Messages waiting in an integration's durable queue.", []string{"queue"}, nil)
	descRejected = prometheus.NewDesc("pruefplatz_outbox_rejected_total", "Messages refused because the queue was full.", []string{"queue"}, nil)
)

// Collector reports each queue's depth and rejections at scrape time.
type Collector struct{ Queues []*Queue }

// Describe implements prometheus.Collector.
func (c Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descDepth
	ch <- descRejected
}

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	for _, q := range c.Queues {
		ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(q.Len()), q.Name())
		ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(q.Rejected()), q.Name())
	}
}
