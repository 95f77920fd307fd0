package projections_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/events"
	"buildledger/projections"
	"buildledger/test/projtest"
)

// TestFailingProjectionPauses is review finding M5's second half: a
// projection that fails on one event (a bug, or data it cannot take) used
// to end the runner, and with it every other projection. Now it pauses
// itself at its checkpoint and says why in Status while the others keep
// up with the log; it is retried with backoff, and once the cause is gone
// it catches up.
func TestFailingProjectionPauses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := projtest.New(t)
	add := func(from, to int) {
		for i := from; i <= to; i++ {
			env.Append(t, fmt.Sprintf("build-%d", i), events.Metadata{Actor: "component:test"}, &events.BuildBumped{BuildID: int64(i), GlobalPriority: 1})
		}
	}
	var broken atomic.Bool
	broken.Store(true)
	var good, flaky atomic.Int64
	ps := []projections.Projection{
		projections.PerEvent{ProjectionName: "good", ProjectionVersion: 1,
			Handle: func(context.Context, projections.Tx, projections.Event) error { good.Add(1); return nil }},
		projections.PerEvent{ProjectionName: "flaky", ProjectionVersion: 1,
			Handle: func(_ context.Context, _ projections.Tx, ev projections.Event) error {
				if ev.Stream == "build-3" && broken.Load() {
					return errors.New("cannot take build 3")
				}
				flaky.Add(1)
				return nil
			}},
	}
	r := env.Runner(t, projections.RunnerOptions{
		BatchSize: 2, Idle: 5 * time.Millisecond, PauseFirst: 5 * time.Millisecond, PauseMax: 20 * time.Millisecond}, ps...)
	add(1, 5)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	status := func() map[string]projections.ProjectionStatus {
		out := map[string]projections.ProjectionStatus{}
		for _, s := range r.Status() {
			out[s.Name] = s
		}
		return out
	}
	settled := func(goodAt, flakyAt uint64, paused bool) func() bool {
		return func() bool {
			st := status()
			return st["good"].Position == goodAt && st["flaky"].Position == flakyAt && st["flaky"].Paused == paused &&
				(!paused || st["flaky"].Failures >= 2)
		}
	}
	require.Eventually(t, settled(5, 2, true), time.Minute, 5*time.Millisecond, "good reaches the head, flaky stops before build 3: %+v", r.Status())
	st := status()
	require.False(t, st["good"].Paused)
	require.Contains(t, st["flaky"].Error, "cannot take build 3")
	require.NotNil(t, st["flaky"].Since)
	require.NotNil(t, st["flaky"].RetryAt)

	add(6, 7)
	require.Eventually(t, settled(7, 2, true), time.Minute, 5*time.Millisecond, "good goes on: %+v", r.Status())

	broken.Store(false)
	require.Eventually(t, settled(7, 7, false), time.Minute, 5*time.Millisecond, "flaky catches up: %+v", r.Status())
	require.Equal(t, int64(7), good.Load())
	require.Equal(t, int64(7), flaky.Load(), "each event applied once to flaky: the failed batches were rolled back")
	cancel()
	require.NoError(t, <-done)
}
