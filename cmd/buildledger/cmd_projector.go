package main

import (
	"context"

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
	sys, err := openSystem(ctx, cfg, a.logger())
	if err != nil {
		return err
	}
	defer sys.Close()
	r, err := sys.newProjector(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	sys.log.Info("projector running", "projections", len(readModels(nil)))
	return r.Run(ctx)
}

// newProjector returns the runner of the read models and registers its
// lag and rate metrics.
func (s *system) newProjector(reg prometheus.Registerer) (*projections.Runner, error) {
	r, err := projections.NewRunner(s.store, s.codec, postgres.NewReadModelDB(s.pool), readModels(s.vault), projections.RunnerOptions{Logger: s.log})
	if err != nil {
		return nil, err
	}
	reg.MustRegister(
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
