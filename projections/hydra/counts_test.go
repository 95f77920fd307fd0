package hydra_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

// TestCountsOfLiveAndReplayedEqual runs a jobset's evaluation of two
// builds, one of which finishes, and then an evaluation without builds,
// which leaves the jobset no current build: live, one event a batch (the
// counts' triggers follow every write), and replayed, in one batch and
// one event a batch (the triggers are disabled and the counts counted at
// the end). All must give the same rows, without a row of zeros for the
// jobset: the triggers kept one live, and none when a batch wrote the
// builds no longer current at once.
func TestCountsOfLiveAndReplayedEqual(t *testing.T) {
	ctx := context.Background()
	sd := seed(t, 0)
	j := testJobset{id: sd.hist.jobsetID, name: "j"}
	head := sd.appendAll(t, "counts", []events.Payload{
		j.started(1), j.queued(1, 1), j.queued(1, 2), jobEvaluated(1, 1, true), jobEvaluated(1, 2, true), j.finished(1),
		events.BuildFinished{BuildID: 1, Status: 0, StartTime: 10, StopTime: 20},
		j.started(2), j.finished(2),
	})
	db, release, err := postgres.NewSchemas(sd.pool).Create(ctx, "live_counts")
	require.NoError(t, err)
	r, err := projections.NewRunner(sd.store, sd.codec, db, []projections.Projection{hydra.Projection{Keys: postgres.NewVault(sd.pool)}},
		projections.RunnerOptions{BatchSize: 1, Until: head})
	require.NoError(t, err)
	_, err = r.CatchUp(ctx)
	release()
	require.NoError(t, err)
	live := pgtest.Dump(t, sd.pool, "live_counts")
	require.Equal(t, []string{"(1,2,2,1,1,0)"}, live["jobsetevalcounts"])
	require.Empty(t, live["jobsetcurrentcounts"])
	require.Equal(t, []string{"(finished,1)"}, live["nrbuilds"])
	requireCounts(t, sd.pool, "live_counts", "live")

	for _, batch := range []int{1, 1000} {
		target := fmt.Sprintf("replay_counts_%d", batch)
		sd.replay(t, head, target, batch)
		require.Equal(t, live, pgtest.Dump(t, sd.pool, target), target)
	}
}

// requireCounts checks that the counts the triggers of JobsetEvalCounts
// and JobsetCurrentCounts keep in schema are those counted afresh from
// Builds and JobsetEvalMembers, and that no row is of zeros.
func requireCounts(t *testing.T, pool *pgxpool.Pool, schema, msg string) {
	t.Helper()
	rows := func(sql string) []string {
		var out []string
		require.NoError(t, pool.QueryRow(context.Background(),
			fmt.Sprintf(`select coalesce(array_agg(r::text order by r::text), '{}') from (%s) r`, sql)).Scan(&out), msg)
		return out
	}
	kept := rows(fmt.Sprintf(`select eval, nrBuilds, nrJobs, nrQueued, nrSucceeded, nrFailed from %s.JobsetEvalCounts`, schema))
	counted := rows(fmt.Sprintf(`select m.eval, count(*), count(*) filter (where b.isChannel = 0), count(*) filter (where b.finished = 0),
		  count(*) filter (where b.finished = 1 and b.buildStatus = 0), count(*) filter (where b.finished = 1 and b.buildStatus <> 0)
		from %[1]s.JobsetEvalMembers m join %[1]s.Builds b on b.id = m.build join %[1]s.JobsetEvals e on e.id = m.eval
		group by m.eval`, schema))
	require.Equal(t, counted, kept, "%s: evaluation counts", msg)
	kept = rows(fmt.Sprintf(`select jobset_id, nrTotal, nrQueued, nrSucceeded, nrFailed from %s.JobsetCurrentCounts`, schema))
	counted = rows(fmt.Sprintf(`select b.jobset_id, count(*), count(*) filter (where b.finished = 0),
		  count(*) filter (where b.finished = 1 and b.buildStatus = 0), count(*) filter (where b.finished = 1 and b.buildStatus <> 0)
		from %[1]s.Builds b join %[1]s.Jobsets j on j.id = b.jobset_id where b.isCurrent = 1
		group by b.jobset_id`, schema))
	require.Equal(t, counted, kept, "%s: jobset counts", msg)
}
