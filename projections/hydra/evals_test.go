package hydra_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

// TestEvaluationsAcrossBatches replays evaluations of one jobset in
// batches of every size from one event to all of them: an evaluation
// superseded by the next one in the same batch, one whose members and
// pieces are in an earlier batch than its finish, one that fails after
// staging a member (and withdrawing its build), one with a member whose
// build does not exist and a cached build withdrawn (as the evaluator
// does when a job's name collides), one that finishes while another of
// the jobset is still running, and one whose input is a build of the
// batch. The
// evaluations that start and finish in one batch take the direct path
// (members copied, isCurrent written ahead), the others the staging
// tables: the rows must be the same, and as expected.
func TestEvaluationsAcrossBatches(t *testing.T) {
	ctx := context.Background()
	sd := seed(t, 0)
	js := testJobset{id: sd.hist.jobsetID, name: "j"}
	queued, finished := js.queued, js.finished
	member := func(eval, id int64) events.JobEvaluated { return jobEvaluated(eval, id, id%2 == 0) }
	aggregate := member(4, 6)
	aggregate.ConstituentBuilds = []int64{4}
	history := []events.Payload{
		js.started(1),
		queued(1, 1), queued(1, 2), queued(1, 3),
		member(1, 1), member(1, 2), member(1, 3),
		finished(1),
		// Eval 2 supersedes eval 1 in the same batch when batches are large.
		queued(2, 4), member(2, 2), member(2, 4),
		finished(2),
		// Eval 3 fails: nothing of it is published, and its build is withdrawn.
		queued(3, 5), member(3, 5),
		events.BuildWithdrawn{BuildID: 5, EvalID: 3, Reason: "evaluation failed"},
		events.EvaluationFailed{EvalID: 3, Project: "p", Jobset: "j", Phase: "eval", Error: "boom", Timestamp: 103},
		// Eval 4 has every kind of piece, and a member that was never queued.
		queued(4, 6), aggregate, member(4, 999), member(4, 4),
		events.InputFetched{EvalID: 4, Name: "src", Type: "path", Value: "/tmp", DependencyBuild: 2},
		events.JobEvaluationFailed{EvalID: 4, Job: "broken", Error: "syntax error"},
		queued(4, 8), events.BuildCached{BuildID: 8, Timestamp: 5},
		events.ProductScraped{BuildID: 8, ProductNr: 1, Type: "file", Subtype: "doc", Path: out(8), Name: "x"},
		events.MetricScraped{BuildID: 8, Name: "size", Value: 1},
		events.BuildWithdrawn{BuildID: 8, EvalID: 4, Reason: "job name collision"},
		events.StepStarted{DrvPath: drv(1), BuildID: 1, StepNr: 1, Machine: "m1", StartTime: 10},
		events.BuildFinished{BuildID: 1, Status: 0, StartTime: 10, StopTime: 20},
		finished(4),
		// Eval 5 makes build 1 current again, and a new build 7.
		queued(5, 7), member(5, 1), member(5, 6), member(5, 7),
		finished(5),
		// Eval 6 takes build 7, still buffered in large batches, as an input.
		js.started(6), events.InputFetched{EvalID: 6, Name: "dep", Type: "build", DependencyBuild: 7},
		member(6, 6), member(6, 7),
		finished(6),
		// Eval 7 queues build 9 and fails only after eval 8 has finished,
		// which makes build 9, written current and still buffered in large
		// batches, no longer current.
		js.started(7), queued(7, 9), member(7, 9),
		js.started(8), queued(8, 10), member(8, 6), member(8, 10),
		finished(8),
		events.EvaluationFailed{EvalID: 7, Project: "p", Jobset: "j", Phase: "eval", Error: "killed", Timestamp: 107},
	}
	head := sd.appendAll(t, "evals", history)
	var first map[string][]string
	for _, batch := range []int{1, 2, 3, 5, 8, 13, 1000} {
		target := fmt.Sprintf("evals_%d", batch)
		sd.replay(t, head, target, batch)

		var builds, current, members, evals, constituents, inputs, staged, evalErr string
		require.NoError(t, sd.pool.QueryRow(ctx, fmt.Sprintf(`select
				(select string_agg(id::text, ' ' order by id) from %[1]s.Builds) || ' / ' ||
					(select count(*) from %[1]s.BuildOutputs where build in (5, 8)) ||
					(select count(*) from %[1]s.BuildProducts) || (select count(*) from %[1]s.BuildMetrics),
				(select string_agg(id::text, ' ' order by id) from %[1]s.Builds where isCurrent = 1),
				(select string_agg(eval || ':' || build || ':' || isNew, ' ' order by eval, build) from %[1]s.JobsetEvalMembers),
				(select string_agg(id::text, ' ' order by id) from %[1]s.JobsetEvals),
				(select string_agg(aggregate || ':' || constituent, ' ') from %[1]s.AggregateConstituents),
				(select string_agg(eval || ':' || name || ':' || dependency, ' ' order by eval) from %[1]s.JobsetEvalInputs),
				(select count(*)::text from %[1]s.eval_staging_members) || (select count(*) from %[1]s.eval_staging_inputs)
					|| (select count(*) from %[1]s.eval_staging_constituents) || (select count(*) from %[1]s.eval_staging_errors),
				(select errorMsg from %[1]s.EvaluationErrors where id = 4)`, target)).
			Scan(&builds, &current, &members, &evals, &constituents, &inputs, &staged, &evalErr))
		require.Equal(t, "1 2 3 4 6 7 9 10 / 000", builds, "batch %d", batch)
		require.Equal(t, "6 10", current, "batch %d", batch)
		require.Equal(t, "1:1:0 1:2:1 1:3:0 2:2:1 2:4:1 4:4:1 4:6:1 5:1:0 5:6:1 5:7:0 6:6:1 6:7:0 8:6:1 8:10:1", members, "batch %d", batch)
		require.Equal(t, "1 2 4 5 6 8", evals, "batch %d", batch)
		require.Equal(t, "6:4", constituents, "batch %d", batch)
		require.Equal(t, "4:src:2 6:dep:7", inputs, "batch %d", batch)
		require.Equal(t, "0000", staged, "batch %d", batch)
		require.Equal(t, "in job ‘broken’:\nsyntax error\n\n", evalErr, "batch %d", batch)

		dump := pgtest.Dump(t, sd.pool, target)
		if first == nil {
			first = dump
		}
		require.Equal(t, first, dump, "batch %d", batch)
	}
}

// TestQueuedStatementFails replays a batch one of whose statements, queued
// to run with others in one round trip, fails: the replay fails, naming
// the event the statement came from.
func TestQueuedStatementFails(t *testing.T) {
	sd := seed(t, 0)
	js := testJobset{id: sd.hist.jobsetID, name: "j"}
	bad := js.started(1)
	bad.StartTime = 1 << 40 // Jobsets.startTime is an integer
	head := sd.appendAll(t, "queued", []events.Payload{
		js.started(1), bad, js.queued(1, 1), jobEvaluated(1, 1, true), js.finished(1),
	})
	_, err := projections.Replay(context.Background(), sd.store, sd.codec, postgres.NewSchemas(sd.pool),
		[]projections.Projection{hydra.Projection{Keys: postgres.NewVault(sd.pool)}}, projections.ReplayOptions{Target: "queued_fails", Until: head, BatchSize: 1000})
	require.ErrorContains(t, err, "statements queued from event")
	require.ErrorContains(t, err, "(EvaluationStarted at ")
	var schemas int
	require.NoError(t, sd.pool.QueryRow(context.Background(), `select count(*) from pg_namespace where nspname = 'queued_fails'`).Scan(&schemas))
	require.Zero(t, schemas, "the half-built schema is dropped")
}
