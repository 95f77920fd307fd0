package hydra_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

// TestDeletingWithMetrics deletes a jobset and then a project whose
// builds have metrics, live and in a replay. BuildMetrics' keys to
// Projects and Jobsets cascade on update only, as Hydra's: the projection
// deletes the metrics first, or the deletes fail.
func TestDeletingWithMetrics(t *testing.T) {
	ctx := context.Background()
	sd := seed(t, 4)
	head := sd.appendAll(t, "metrics", []events.Payload{
		events.MetricScraped{BuildID: 1, Name: "size", Value: 1},
		events.JobsetCreated{Project: "p", Name: "k", ID: 77, JobsetConfig: events.JobsetConfig{NixExprInput: "src", NixExprPath: "x.nix",
			Enabled: 1, KeepNr: 3, CheckInterval: 300, SchedulingShares: 100}},
		testJobset{id: 77, name: "k"}.queued(900, 900),
		events.MetricScraped{BuildID: 900, Name: "size", Value: 2},
		events.JobsetDeleted{Project: "p", Name: "j"},
		events.ProjectDeleted{Name: "p"},
	})
	runLive(t, sd, 1)
	sd.replay(t, head, "metrics_replay", 1000)
	for _, schema := range []string{postgres.ReadModelSchema, "metrics_replay"} {
		var metrics, builds int
		require.NoError(t, sd.pool.QueryRow(ctx, fmt.Sprintf(`select (select count(*) from %[1]s.BuildMetrics), (select count(*) from %[1]s.Builds)`,
			schema)).Scan(&metrics, &builds))
		require.Zero(t, metrics+builds, schema)
	}
}

// runLive projects the whole log into the live read models, as the
// projector of `buildledger up` does, in batches of batch events.
func runLive(t *testing.T, sd seeded, batch int) {
	t.Helper()
	r, err := projections.NewRunner(sd.store, sd.codec, postgres.NewReadModelDB(sd.pool),
		[]projections.Projection{hydra.Projection{Keys: postgres.NewVault(sd.pool)}}, projections.RunnerOptions{BatchSize: batch})
	require.NoError(t, err)
	_, err = r.CatchUp(context.Background())
	require.NoError(t, err)
}
