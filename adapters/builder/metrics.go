package builder

import "github.com/prometheus/client_golang/prometheus"

// metrics are the worker's Prometheus metrics.
type metrics struct {
	running     *prometheus.GaugeVec
	finished    *prometheus.CounterVec
	uploadBytes prometheus.Counter
	uploads     prometheus.Counter
	copyBytes   *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "buildledger", Subsystem: "builder",
			Name: "running_steps", Help: "Build steps running, per machine."}, []string{"machine"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "buildledger", Subsystem: "builder",
			Name: "steps_finished_total", Help: "Build steps finished, per machine and Hydra status code (\"superseded\": ended elsewhere while running, e.g. cancelled)."}, []string{"machine", "status"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "buildledger", Subsystem: "builder",
			Name: "upload_bytes_total", Help: "Bytes of NAR files written to the binary cache."}),
		uploads: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "buildledger", Subsystem: "builder",
			Name: "uploads_total", Help: "Store paths written to the binary cache."}),
		copyBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "buildledger", Subsystem: "builder",
			Name: "copy_bytes_total", Help: "NAR bytes copied between the local store and machines, by direction."}, []string{"direction"}),
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.running.Describe(ch)
	m.finished.Describe(ch)
	m.uploadBytes.Describe(ch)
	m.uploads.Describe(ch)
	m.copyBytes.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.running.Collect(ch)
	m.finished.Collect(ch)
	m.uploadBytes.Collect(ch)
	m.uploads.Collect(ch)
	m.copyBytes.Collect(ch)
}

// Collector returns the worker's Prometheus metrics: running steps per
// machine, finished steps per machine and status, bytes uploaded to the
// binary cache and bytes copied to and from machines.
func (w *Worker) Collector() prometheus.Collector { return w.metrics }
