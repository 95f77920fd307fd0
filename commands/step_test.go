package commands_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/step"
	"buildledger/domain/streams"
	"buildledger/events"
)

// TestCompleteStep: a builder's outcome is one append ending with
// StepFinished; once the attempt was ended elsewhere it is refused whole,
// and only its log can still be recorded.
func TestCompleteStep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rt, store := newRuntime(t, commands.Options{})
	h := commands.NewHandlers(rt, nil, nil)
	scheduler, builder := md(commands.ComponentActor("scheduler")), md(commands.ComponentActor("builder"))
	const drv = "/nix/store/aaaa-x.drv"
	stream := streams.Step(drv)
	types := func() []string {
		recs, err := store.ReadStream(ctx, stream, 0, 100)
		require.NoError(t, err)
		var out []string
		for _, r := range recs {
			out = append(out, r.Type)
		}
		return out
	}
	// The evaluator queues the step; the scheduler dispatches attempts.
	_, err := commands.Execute(ctx, rt, stream, commands.StepAggregate, func(step.State) ([]events.Payload, error) {
		return []events.Payload{&events.StepQueued{DrvPath: drv, System: "x86_64-linux"}}, nil
	}, scheduler)
	require.NoError(t, err)
	run := func(attempt int) {
		_, err := h.DispatchStep(ctx, scheduler, events.StepDispatched{DrvPath: drv, Attempt: attempt, LeaseUntil: 100})
		require.NoError(t, err)
		_, err = h.StartStep(ctx, builder, events.StepStarted{DrvPath: drv, Attempt: attempt})
		require.NoError(t, err)
	}
	outcome := func(attempt int) commands.StepOutcome {
		return commands.StepOutcome{
			Log:      events.StepLogStored{DrvPath: drv, Attempt: attempt, Location: "aa/x"},
			Uploads:  []events.OutputUploaded{{DrvPath: drv, OutputName: "out"}},
			Metrics:  []events.MetricScraped{{Name: "m"}},
			Finished: events.StepFinished{DrvPath: drv, Attempt: attempt, Status: 3},
		}
	}

	run(1)
	_, err = h.StartStep(ctx, builder, events.StepStarted{DrvPath: drv, Attempt: 1})
	require.ErrorIs(t, err, commands.ErrAttemptRefused, "a duplicate delivery")
	require.ErrorIs(t, err, domainerr.ErrConflict)
	f := h.FollowStep(drv)
	superseded, _, err := f.Superseded(ctx, 1)
	require.NoError(t, err)
	require.False(t, superseded)
	res, err := h.CompleteStep(ctx, builder, outcome(1))
	require.NoError(t, err)
	require.Len(t, res.Events, 4)
	require.Equal(t, []string{"StepQueued", "StepDispatched", "StepStarted", "StepLogStored", "OutputUploaded", "MetricScraped", "StepFinished"}, types())
	superseded, why, err := f.Superseded(ctx, 1)
	require.NoError(t, err)
	require.True(t, superseded)
	require.Contains(t, why, "attempt 1 is failed")

	// Attempt 2 is given up by the scheduler while it runs: its outcome
	// is refused, its log kept.
	_, err = h.RequeueStep(ctx, scheduler, events.StepRetryScheduled{DrvPath: drv, Attempt: 1}, 0)
	require.NoError(t, err)
	run(2)
	_, err = h.FinishStep(ctx, scheduler, events.StepFinished{DrvPath: drv, Attempt: 2, Status: 4})
	require.NoError(t, err)
	before := len(types())
	_, err = h.CompleteStep(ctx, builder, outcome(2))
	require.ErrorIs(t, err, commands.ErrAttemptRefused)
	require.Len(t, types(), before, "nothing of a refused outcome is recorded")
	_, err = h.RecordStepLog(ctx, builder, outcome(2).Log)
	require.NoError(t, err)
	require.Equal(t, "StepLogStored", types()[before])
}
