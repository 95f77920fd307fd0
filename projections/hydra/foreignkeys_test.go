package hydra_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/domain/status"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

// TestReplayWithoutForeignKeysEqualsLive replays, with Hydra's deferrable
// foreign keys left out, a history holding rows the keys refuse (a member
// and a step of builds that were never queued) and the deletion of a
// jobset with builds and an evaluation, followed by events for its gone
// builds and references to them (a step propagated from one, an input
// built by one, a dependency failure of one). Up to the deletion the keys
// come back after the catch-up; over it, before the batch that deletes.
// Each replay must give the rows of the projection run live, and end with
// every key of a migrated schema.
func TestReplayWithoutForeignKeysEqualsLive(t *testing.T) {
	ctx := context.Background()
	sd := seed(t, 0)
	j, k := testJobset{id: sd.hist.jobsetID, name: "j"}, testJobset{id: sd.hist.jobsetID + 1, name: "k"}
	member := func(eval, id int64) events.JobEvaluated { return jobEvaluated(eval, id, true) }
	step := func(id int64) events.Payload {
		return events.StepStarted{DrvPath: drv(int(id)), BuildID: id, StepNr: 1, Machine: "m1", StartTime: 10}
	}
	beforeDeletion := sd.appendAll(t, "fk", []events.Payload{
		j.started(1), j.queued(1, 1), j.queued(1, 2), member(1, 1), member(1, 2), member(1, 999), j.finished(1),
		step(1), step(998),
		events.StepFinished{DrvPath: drv(1), BuildID: 1, StepNr: 1, Machine: "m1", StartTime: 10, StopTime: 20,
			Outputs: []events.Output{{Name: "out", Path: out(1)}}},
		events.BuildFinished{BuildID: 1, Status: 0, StartTime: 10, StopTime: 20},
		events.JobsetCreated{Project: "p", Name: k.name, ID: k.id, JobsetConfig: events.JobsetConfig{NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, SchedulingShares: 100}},
		k.started(2), k.queued(2, 3), k.queued(2, 4), member(2, 3), member(2, 4), k.finished(2),
		step(3), events.BuildFinished{BuildID: 4, Status: 0, StartTime: 10, StopTime: 20},
	})
	head := sd.appendAll(t, "fk", []events.Payload{
		events.JobsetDeleted{Project: "p", Name: "k"},
		k.queued(3, 5), step(3), events.BuildFinished{BuildID: 3, Status: 0, StartTime: 10, StopTime: 20},
		events.BuildFinished{BuildID: 2, Status: int(status.DepFailed), StartTime: 30, StopTime: 30, PropagatedFrom: 3, FailedDrv: drv(3)},
		// A gone build whose dependency failed records no step.
		events.BuildFinished{BuildID: 4, Status: int(status.DepFailed), StartTime: 30, StopTime: 30, PropagatedFrom: 1, FailedDrv: drv(1)},
		j.started(4), j.queued(4, 6), member(4, 6), member(4, 1),
		events.InputFetched{EvalID: 4, Name: "dep", Type: "build", DependencyBuild: 4},
		j.finished(4),
	})
	schemas := postgres.NewSchemas(sd.pool)
	migrated := catalog(t, sd.pool, postgres.ReadModelSchema)["constraints"]
	for _, tc := range []struct {
		name  string
		until events.Position
		// builds are the Builds rows expected.
		builds string
	}{
		{"before_deletion", beforeDeletion, "1 2 3 4"},
		{"over_deletion", head, "1 2 6"},
	} {
		db, release, err := schemas.Create(ctx, "live_"+tc.name)
		require.NoError(t, err)
		r, err := projections.NewRunner(sd.store, sd.codec, db, []projections.Projection{hydra.Projection{Keys: postgres.NewVault(sd.pool)}},
			projections.RunnerOptions{BatchSize: 1, Until: tc.until})
		require.NoError(t, err)
		_, err = r.CatchUp(ctx)
		release()
		require.NoError(t, err)
		live := pgtest.Dump(t, sd.pool, "live_"+tc.name)
		requireCounts(t, sd.pool, "live_"+tc.name, tc.name)
		require.Equal(t, []string{"(1,1,1)", "(1,2,1)"}, live["jobsetevalmembers"][:2], tc.name)

		for _, batch := range []int{1, 4, 1000} {
			target := fmt.Sprintf("replay_%s_%d", tc.name, batch)
			sd.replay(t, tc.until, target, batch)
			var builds string
			require.NoError(t, sd.pool.QueryRow(ctx, fmt.Sprintf(`select string_agg(id::text, ' ' order by id) from %s.Builds`, target)).Scan(&builds))
			require.Equal(t, tc.builds, builds, target)
			require.Equal(t, live, pgtest.Dump(t, sd.pool, target), target)
			requireCounts(t, sd.pool, target, target)
			require.Equal(t, migrated, catalog(t, sd.pool, target)["constraints"], target)
		}
	}
}
