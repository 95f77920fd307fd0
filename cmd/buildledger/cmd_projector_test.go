package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"buildledger/commands/reactors/scheduler"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/test/projtest"
)

// TestPausedProjectionReported: a projection that fails on an event is
// shown paused, with its checkpoint and error, on up's
// /queue-runner-status (Hydra's fields and ours side by side) and in
// /metrics, while the other projection reaches the head.
func TestPausedProjectionReported(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := projtest.New(t)
	env.Append(t, "build-1", events.Metadata{Actor: "component:test"}, &events.BuildBumped{BuildID: 1, GlobalPriority: 1})
	ps := []projections.Projection{
		projections.PerEvent{ProjectionName: "good", ProjectionVersion: 1,
			Handle: func(context.Context, projections.Tx, projections.Event) error { return nil }},
		projections.PerEvent{ProjectionName: "bad", ProjectionVersion: 1,
			Handle: func(context.Context, projections.Tx, projections.Event) error {
				return errors.New("no room for build 1")
			}},
	}
	r := env.Runner(t, projections.RunnerOptions{Idle: 5 * time.Millisecond, PauseFirst: time.Hour}, ps...)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool {
		st := r.Status()
		return st[0].Position == 1 && st[1].Paused
	}, time.Minute, 5*time.Millisecond)

	rec := httptest.NewRecorder()
	queueStatusHandler(func() upStatus { return upStatus{scheduler.Status{Status: "up"}, r.Status()} }).
		ServeHTTP(rec, httptest.NewRequest("GET", "/queue-runner-status", nil))
	var body struct {
		Status         string                         `json:"status"`
		NrQueuedBuilds *int                           `json:"nrQueuedBuilds"`
		Projections    []projections.ProjectionStatus `json:"projections"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	require.Equal(t, "up", body.Status)
	require.NotNil(t, body.NrQueuedBuilds, "Hydra's fields are kept")
	require.Len(t, body.Projections, 2)
	require.Equal(t, "good", body.Projections[0].Name)
	require.False(t, body.Projections[0].Paused)
	bad := body.Projections[1]
	require.True(t, bad.Paused)
	require.Zero(t, bad.Position, "it failed on the event after its checkpoint")
	require.Contains(t, bad.Error, "no room for build 1")
	require.Equal(t, 1, bad.Failures)

	reg := prometheus.NewRegistry()
	reg.MustRegister(projectionCollector{r})
	families, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			got[f.GetName()+"/"+m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	require.Equal(t, map[string]float64{
		"buildledger_projection_paused/good": 0, "buildledger_projection_paused/bad": 1,
		"buildledger_projection_checkpoint/good": 1, "buildledger_projection_checkpoint/bad": 0,
		"buildledger_projection_failures/good": 0, "buildledger_projection_failures/bad": 1,
	}, got)
	cancel()
	require.NoError(t, <-done)
}
