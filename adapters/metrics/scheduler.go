// Package metrics exports the reactors' figures as Prometheus metrics.
// A reactor reports through a port of its own (scheduler.Observer, its
// Status) and knows nothing of Prometheus.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"buildledger/commands/reactors/scheduler"
)

var _ scheduler.Observer = (*Scheduler)(nil)

var (
	queueDesc   = prometheus.NewDesc("buildledger_scheduler_runnable_steps", "Runnable steps waiting for a machine, per system.", []string{"system"}, nil)
	runningDesc = prometheus.NewDesc("buildledger_scheduler_machine_steps", "Steps dispatched to or running on a machine.", []string{"machine"}, nil)
	slotsDesc   = prometheus.NewDesc("buildledger_scheduler_machine_max_jobs", "Slots of a machine (maxJobs).", []string{"machine"}, nil)
	buildsDesc  = prometheus.NewDesc("buildledger_scheduler_unfinished_builds", "Queued builds not finished yet.", nil, nil)
	decideDesc  = prometheus.NewDesc("buildledger_scheduler_decisions_total", "Dispatch decisions made since start.", nil, nil)
)

// Scheduler is the scheduler's metrics: gauges read from its status
// (runnable steps per system, steps per machine, unfinished builds) and
// histograms of the timings it observes (dispatch latency, decision pass
// time). It is the scheduler's Observer and a prometheus.Collector.
type Scheduler struct {
	status   func() scheduler.Status
	dispatch prometheus.Histogram
	pass     prometheus.Histogram
}

// NewScheduler returns the metrics of the scheduler whose status is
// status; pass the result as scheduler.Options.Observer, then set status
// with Watch once the scheduler exists.
func NewScheduler() *Scheduler {
	return &Scheduler{
		dispatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "buildledger_scheduler_dispatch_seconds",
			Help:    "Time to record one StepDispatched and send its BuildStep command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		pass: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "buildledger_scheduler_decide_seconds",
			Help:    "Time of one in-memory decision pass (ordering and machine choice).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
}

// Watch sets where the gauges are read from.
func (m *Scheduler) Watch(status func() scheduler.Status) { m.status = status }

// Decided implements scheduler.Observer.
func (m *Scheduler) Decided(d time.Duration) { m.pass.Observe(d.Seconds()) }

// Dispatched implements scheduler.Observer.
func (m *Scheduler) Dispatched(d time.Duration) { m.dispatch.Observe(d.Seconds()) }

// Describe implements prometheus.Collector.
func (m *Scheduler) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDesc
	ch <- runningDesc
	ch <- slotsDesc
	ch <- buildsDesc
	ch <- decideDesc
	m.dispatch.Describe(ch)
	m.pass.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *Scheduler) Collect(ch chan<- prometheus.Metric) {
	if m.status != nil {
		st := m.status()
		for sys, q := range st.MachineTypes {
			ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(q.Runnable), sys)
		}
		for name, mc := range st.Machines {
			ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(mc.CurrentJobs), name)
			ch <- prometheus.MustNewConstMetric(slotsDesc, prometheus.GaugeValue, float64(mc.MaxJobs), name)
		}
		ch <- prometheus.MustNewConstMetric(buildsDesc, prometheus.GaugeValue, float64(st.NrQueuedBuilds))
		ch <- prometheus.MustNewConstMetric(decideDesc, prometheus.CounterValue, float64(st.NrDecisions))
	}
	m.dispatch.Collect(ch)
	m.pass.Collect(ch)
}
