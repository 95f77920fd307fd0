package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"buildledger/adapters/postgres"
	"buildledger/projections"
)

func runProjector(ctx context.Context, a *app, args []string) error {
	var cfg config
	fs := a.newFlagSet("projector", "projector [flags]")
	cfg.register(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	return a.withLedger(ctx, cfg, func(sys *system) error {
		r, err := sys.newProjector(prometheus.NewRegistry())
		if err != nil {
			return err
		}
		sys.log.Info("projector running", "projections", len(readModels(nil)))
		return supervise(ctx, sys.log, "projector", r.Run)
	})
}

// supervise runs a worker loop of up, the projector or the queue runner
// until ctx ends, starting it again after a transient database error (a
// restart of Postgres outlasting the store's own retries) instead of
// letting the error end the process.
func supervise(ctx context.Context, log *slog.Logger, what string, run func(context.Context) error) error {
	err := postgres.Retry{Log: log, First: time.Second, Max: 30 * time.Second}.Do(ctx, what, run)
	if ctx.Err() != nil {
		// Shutting down: a loop cut off by the stop (the private cluster
		// stops with the process) is not a failure of the process.
		return nil
	}
	return err
}

// projectionCollector exports each read-model projection's checkpoint and
// pause (projections.Runner.Status) as gauges labelled by projection.
type projectionCollector struct{ r *projections.Runner }

var (
	projectionPausedDesc = prometheus.NewDesc("buildledger_projection_paused",
		"1 while the projection is paused after failing to apply the events after its checkpoint (see /queue-runner-status).", []string{"projection"}, nil)
	projectionCheckpointDesc = prometheus.NewDesc("buildledger_projection_checkpoint",
		"Log position up to which the projection has applied events; a paused one failed on an event after it.", []string{"projection"}, nil)
	projectionFailuresDesc = prometheus.NewDesc("buildledger_projection_failures",
		"Failed attempts of the projection since it was paused; 0 when it is not.", []string{"projection"}, nil)
)

func (c projectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- projectionPausedDesc
	ch <- projectionCheckpointDesc
	ch <- projectionFailuresDesc
}

func (c projectionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.Status() {
		paused := 0.0
		if s.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(projectionPausedDesc, prometheus.GaugeValue, paused, s.Name)
		ch <- prometheus.MustNewConstMetric(projectionCheckpointDesc, prometheus.GaugeValue, float64(s.Position), s.Name)
		ch <- prometheus.MustNewConstMetric(projectionFailuresDesc, prometheus.GaugeValue, float64(s.Failures), s.Name)
	}
}

// newProjector returns the runner of the read models and registers its
// lag and rate metrics.
func (s *system) newProjector(reg prometheus.Registerer) (*projections.Runner, error) {
	r, err := projections.NewRunner(s.store, s.codec, postgres.NewReadModelDB(s.pool), readModels(s.vault), projections.RunnerOptions{Logger: s.log})
	if err != nil {
		return nil, err
	}
	reg.MustRegister(projectionCollector{r},
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "buildledger_projector_events_applied_total", Help: "Events applied by the projector since it started."},
			func() float64 { return float64(r.Stats().Applied) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "buildledger_projector_events_skipped_total", Help: "Events the projector could not decode and skipped."},
			func() float64 { return float64(r.Stats().Skipped) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "buildledger_projector_position", Help: "Log position of the last event applied."},
			func() float64 { return float64(r.Stats().Position.Commit) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "buildledger_projector_lag_events", Help: "Events in the log not yet applied to the read models."},
			func() float64 {
				head, err := s.store.Head(context.Background())
				if err != nil {
					return -1
				}
				return float64(head.Commit) - float64(r.Stats().Position.Commit)
			}),
	)
	return r, nil
}
