package hydra_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

// hydraChannels are the channels Hydra's triggers and programs send on.
var hydraChannels = []string{
	"jobset_shares_changed", "jobsets_added", "jobsets_deleted", "jobset_scheduling_changed",
	"builds_deleted", "builds_restarted", "builds_cancelled", "builds_bumped",
	"builds_added", "build_queued", "build_started", "build_finished", "step_started", "step_finished",
	"eval_started", "eval_added", "eval_cached", "eval_failed", "cached_build_finished", "cached_build_queued",
}

// listener is a connection that LISTENs on Hydra's channels.
type listener struct {
	conn *pgx.Conn
}

func listen(t *testing.T, sd seeded) listener {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.ConnectConfig(ctx, sd.pool.Config().ConnConfig.Copy())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	for _, c := range append(slices.Clone(hydraChannels), "test_done") {
		_, err := conn.Exec(ctx, "listen "+c)
		require.NoError(t, err)
	}
	return listener{conn: conn}
}

// heard returns what the listener heard, as "channel payload", up to a
// notification sent now from another connection: Postgres delivers
// notifications in commit order, so everything sent before is in.
func (l listener) heard(t *testing.T, sd seeded) []string {
	t.Helper()
	ctx := context.Background()
	_, err := sd.pool.Exec(ctx, `select pg_notify('test_done', '')`)
	require.NoError(t, err)
	var out []string
	for {
		n, err := l.conn.WaitForNotification(ctx)
		require.NoError(t, err)
		if n.Channel == "test_done" {
			return out
		}
		out = append(out, n.Channel+" "+n.Payload)
	}
}

// notifyHistory is a history that sends on every channel.
func notifyHistory(sd seeded) []events.Payload {
	js := testJobset{id: sd.hist.jobsetID, name: "j"}
	cfg := events.JobsetConfig{NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, KeepNr: 3, CheckInterval: 300,
		SchedulingShares: 50, Inputs: []events.JobsetInput{{Name: "src", Type: "path", Value: "/tmp"}}}
	return []events.Payload{
		js.started(1), js.queued(1, 1), js.queued(1, 2), jobEvaluated(1, 1, true), jobEvaluated(1, 2, true), js.finished(1),
		events.StepStarted{DrvPath: drv(1), BuildID: 1, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 10},
		events.StepLogStored{DrvPath: drv(1), BuildID: 1, StepNr: 1, Attempt: 1, Location: "00/0001-pkg-1.0.drv-1.log.zst"},
		events.StepFinished{DrvPath: drv(1), BuildID: 1, StepNr: 1, Machine: "m1", Attempt: 1, StartTime: 10, StopTime: 20},
		events.BuildFinished{BuildID: 1, StartTime: 10, StopTime: 20},
		js.started(2), js.queued(2, 3), jobEvaluated(2, 1, false), jobEvaluated(2, 2, false), jobEvaluated(2, 3, true), js.finished(2),
		events.BuildCached{BuildID: 3, Timestamp: 30},
		events.BuildBumped{BuildID: 2, GlobalPriority: 40},
		events.BuildCancelled{BuildID: 2, Timestamp: 41},
		events.BuildRestarted{BuildID: 1, Timestamp: 42},
		events.EvaluationRequested{Project: "p", Jobset: "j", Reason: "api", Force: true, At: 43},
		events.EvaluationCached{Project: "p", Jobset: "j", EvalID: 2, Hash: "2", Timestamp: 44, StartTime: 43},
		js.started(3), js.queued(3, 4),
		events.BuildWithdrawn{BuildID: 4, EvalID: 3, Reason: "the evaluation failed"},
		events.EvaluationFailed{EvalID: 3, Project: "p", Jobset: "j", Phase: "fetch", Error: "no network", Timestamp: 45},
		events.JobsetUpdated{Project: "p", Name: "j", JobsetConfig: cfg},
		events.JobsetDeleted{Project: "p", Name: "j"},
	}
}

// TestLiveProjectionNotifies projects a history, one event per
// transaction, into the live read models: a listener hears Hydra's
// channels with Hydra's payloads, in log order. Projected in one batch,
// it hears the same notifications (Postgres folds the repeats of one
// transaction into one), and step_finished names the log the batch
// recorded. A replay of the same log, swapped in, is heard
// not at all.
func TestLiveProjectionNotifies(t *testing.T) {
	want := []string{
		"jobsets_added ", // the seed's JobsetCreated
		"eval_started 1\t1",
		"build_queued 1",
		"build_queued 2",
		"eval_added 1\t1\t1",
		"builds_added 1",
		"step_started 1\t1",
		"build_started 1",
		"step_finished 1\t1\t-", // StepLogStored came in an earlier batch
		"build_finished 1",
		"eval_started 2\t1",
		"build_queued 3",
		"cached_build_finished 2\t1",
		"cached_build_queued 2\t2",
		"eval_added 2\t1\t2",
		"builds_added 3",
		"build_finished 3",
		"builds_bumped ",
		"builds_cancelled ",
		"builds_restarted ",
		"jobset_scheduling_changed ",
		"eval_cached check.44\t1\t2",
		"eval_started 3\t1",
		"build_queued 4",
		"builds_deleted ",
		"eval_failed 3\t1",
		"jobset_shares_changed ",
		"jobsets_deleted ",
		"builds_deleted ",
	}

	t.Run("one event per batch", func(t *testing.T) {
		sd := seed(t, 0)
		require.Equal(t, int64(1), sd.hist.jobsetID, "the payloads above name jobset 1")
		head := sd.appendAll(t, "notify", notifyHistory(sd))
		l := listen(t, sd)
		runLive(t, sd, 1)
		require.Equal(t, want, l.heard(t, sd))

		res, err := projections.Replay(context.Background(), sd.store, sd.codec, postgres.NewSchemas(sd.pool),
			[]projections.Projection{hydra.Projection{Keys: postgres.NewVault(sd.pool)}}, projections.ReplayOptions{Target: "notify_replay", BatchSize: 1})
		require.NoError(t, err)
		require.True(t, res.Swapped)
		require.Equal(t, int64(head.Commit), res.Applied)
		require.Empty(t, l.heard(t, sd), "a replay is silent")
	})

	t.Run("one batch", func(t *testing.T) {
		sd := seed(t, 0)
		sd.appendAll(t, "notify", notifyHistory(sd))
		l := listen(t, sd)
		runLive(t, sd, 1000)
		got := l.heard(t, sd)
		slices.Sort(got)
		distinct := slices.Clone(want)
		distinct[slices.Index(distinct, "step_finished 1\t1\t-")] = "step_finished 1\t1\t00/0001-pkg-1.0.drv-1.log.zst"
		slices.Sort(distinct)
		require.Equal(t, slices.Compact(distinct), got)
	})
}

// TestImportedHistoryIsSilent projects the same history as
// TestLiveProjectionNotifies, recorded as imported from Hydra, into the
// live read models: none of the channels Hydra's programs send is heard
// (a projector catching up on an imported Hydra would otherwise announce
// every build it ever queued); only the trigger channels, which carry no
// payload, are.
func TestImportedHistoryIsSilent(t *testing.T) {
	sd := seed(t, 0)
	sd.appendAllAs(t, "notify", events.Metadata{Actor: "component:hydra-import", ImportedFrom: "hydra", Source: "test:1"},
		notifyHistory(sd))
	l := listen(t, sd)
	runLive(t, sd, 1)
	require.Equal(t, []string{
		"jobsets_added ", // the seed's JobsetCreated, recorded here
		"builds_bumped ",
		"builds_cancelled ",
		"builds_restarted ",
		"jobset_scheduling_changed ",
		"builds_deleted ", // the failed evaluation's withdrawn build
		"jobset_shares_changed ",
		"jobsets_deleted ",
		"builds_deleted ",
	}, l.heard(t, sd))
}
