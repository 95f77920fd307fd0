package scheduler

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	dispatchSeconds prometheus.Histogram
	passSeconds     prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		dispatchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "buildledger_scheduler_dispatch_seconds",
			Help:    "Time to record one StepDispatched and send its BuildStep command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		passSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "buildledger_scheduler_decide_seconds",
			Help:    "Time of one in-memory decision pass (ordering and machine choice).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
}

var (
	queueDesc   = prometheus.NewDesc("buildledger_scheduler_runnable_steps", "Runnable steps waiting for a machine, per system.", []string{"system"}, nil)
	runningDesc = prometheus.NewDesc("buildledger_scheduler_machine_steps", "Steps dispatched to or running on a machine.", []string{"machine"}, nil)
	slotsDesc   = prometheus.NewDesc("buildledger_scheduler_machine_max_jobs", "Slots of a machine (maxJobs).", []string{"machine"}, nil)
	buildsDesc  = prometheus.NewDesc("buildledger_scheduler_unfinished_builds", "Queued builds not finished yet.", nil, nil)
	decideDesc  = prometheus.NewDesc("buildledger_scheduler_decisions_total", "Dispatch decisions made since start.", nil, nil)
)

// Collector returns a Prometheus collector of the scheduler's gauges
// (runnable steps per system, steps per machine, unfinished builds) and
// histograms (dispatch latency, decision pass time). The integrator
// registers it.
func (s *Scheduler) Collector() prometheus.Collector { return collector{s} }

type collector struct{ s *Scheduler }

// Describe sends the descriptors of every metric.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- runningDesc
	ch <- slotsDesc
	ch <- buildsDesc
	ch <- decideDesc
	c.s.metrics.dispatchSeconds.Describe(ch)
	c.s.metrics.passSeconds.Describe(ch)
}

// Collect sends the current values.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Status()
	for sys, q := range st.MachineTypes {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(q.Runnable), sys)
	}
	for name, m := range st.Machines {
		ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(m.CurrentJobs), name)
		ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.GaugeValue, float64(m.MaxJobs), name)
	}
	ch <- prometheus.MustNewConstMetric(buildsDesc, prometheus.GaugeValue, float64(st.NrQueuedBuilds))
	ch <- prometheus.MustNewConstMetric(decideDesc, prometheus.CounterValue, float64(st.NrDecisions))
	c.s.metrics.dispatchSeconds.Collect(ch)
	c.s.metrics.passSeconds.Collect(ch)
}
