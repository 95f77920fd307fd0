package hydra_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

// catalog lists a schema's indexes, constraints and triggers (and whether
// they fire), with the schema's own name taken out, so two schemas can be
// compared.
func catalog(t *testing.T, pool *pgxpool.Pool, schema string) map[string][]string {
	t.Helper()
	queries := map[string]string{
		"indexes": `select tablename || ' ' || indexname || ' ' || replace(indexdef, ' ON ' || schemaname || '.', ' ON ')
			from pg_indexes where schemaname = $1 order by 1`,
		"constraints": `select c.relname || ' ' || k.conname || ' ' || replace(pg_get_constraintdef(k.oid), $1 || '.', '')
			from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
			where n.nspname = $1 order by 1`,
		// Internal (foreign-key) triggers are named after oids: compare
		// what they are, not their names.
		"triggers": `select c.relname || ' ' || case when g.tgisinternal then coalesce(k.conname, '') || ' ' || g.tgfoid::regproc::text || ' ' || g.tgtype
				else replace(pg_get_triggerdef(g.oid), $1 || '.', '') end || ' enabled ' || g.tgenabled::text
			from pg_trigger g join pg_class c on c.oid = g.tgrelid join pg_namespace n on n.oid = c.relnamespace
			left join pg_constraint k on k.oid = g.tgconstraint
			where n.nspname = $1 order by 1`,
	}
	out := map[string][]string{}
	for kind, q := range queries {
		rows, err := pool.Query(context.Background(), q, schema)
		require.NoError(t, err, kind)
		out[kind], err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err, kind)
		require.NotEmpty(t, out[kind], kind)
	}
	return out
}

// TestReplayRebuildsDeferredIndexes replays with Hydra's read-side indexes
// and deferrable foreign keys left out during the catch-up: the swapped-in
// schema must end up with exactly the indexes, constraints and triggers of
// a migrated one, and the right rows.
func TestReplayRebuildsDeferredIndexes(t *testing.T) {
	ctx := context.Background()
	sd := seed(t, 2500)
	schemas := postgres.NewSchemas(sd.pool)
	migrated := catalog(t, sd.pool, postgres.ReadModelSchema)

	res, err := projections.Replay(ctx, sd.store, sd.codec, schemas, []projections.Projection{hydra.Projection{Keys: postgres.NewVault(sd.pool)}},
		projections.ReplayOptions{Target: "replay_indexes", BatchSize: 700})
	require.NoError(t, err)
	require.True(t, res.Swapped)
	require.Equal(t, int64(sd.head.Commit), res.Applied)
	require.Equal(t, migrated, catalog(t, sd.pool, postgres.ReadModelSchema))
	require.Equal(t, migrated, catalog(t, sd.pool, res.Backup), "the migrated schema, kept as the backup")

	var builds, finished, current, nrBuilds, members int
	require.NoError(t, sd.pool.QueryRow(ctx, `select count(*), count(*) filter (where finished = 1 and buildStatus = 0 and stopTime is not null),
			count(*) filter (where isCurrent = 1), (select sum(nrBuilds) from JobsetEvals), (select count(*) from JobsetEvalMembers)
		from Builds`).Scan(&builds, &finished, &current, &nrBuilds, &members))
	require.Equal(t, []int{2500, 2500, 500, 2500, 2500}, []int{builds, finished, current, nrBuilds, members})
}

// TestDeferrableIndexesExist checks that every index Hydra defers is a
// plain index of a migrated schema: DropIndexes refuses the rest.
func TestDeferrableIndexesExist(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	schemas := postgres.NewSchemas(pool)
	_, release, err := schemas.Create(ctx, "indexes_check")
	require.NoError(t, err)
	release()
	defs, err := schemas.DropIndexes(ctx, "indexes_check", hydra.Projection{}.DeferrableIndexes())
	require.NoError(t, err)
	require.Len(t, defs, len(hydra.Projection{}.DeferrableIndexes()))

	_, err = schemas.DropIndexes(ctx, "indexes_check", []string{"builds_pkey"})
	require.ErrorContains(t, err, "backs a constraint")
	_, err = schemas.DropIndexes(ctx, "indexes_check", []string{"indexbuildsonfinished"})
	require.ErrorContains(t, err, "no index indexbuildsonfinished")

	require.NoError(t, schemas.CreateIndexes(ctx, defs))
	require.Equal(t, catalog(t, pool, postgres.ReadModelSchema), catalog(t, pool, "indexes_check"))
}

// TestBatchesGiveTheSameRows replays a history whose rows cannot all be
// written the fast way (a build of an unknown jobset, a step started
// twice, a build cancelled before it finished, a build finished twice)
// one event per batch and in one batch: the rows must be the same.
func TestBatchesGiveTheSameRows(t *testing.T) {
	ctx := context.Background()
	sd := seed(t, 30)
	head := sd.appendAll(t, "extra", []events.Payload{
		events.BuildQueued{BuildID: 100, EvalID: 9, JobsetID: sd.hist.jobsetID + 1000, Project: "p", Jobset: "gone", Job: "x", DrvPath: drv(100), System: "x86_64-linux"},
		events.BuildQueued{BuildID: 101, EvalID: 9, JobsetID: sd.hist.jobsetID, Project: "p", Jobset: "j", Job: "y", DrvPath: drv(101), System: "x86_64-linux",
			Outputs: []events.Output{{Name: "out", Path: out(101)}}},
		events.StepStarted{DrvPath: drv(101), BuildID: 101, StepNr: 1, Machine: "m1", StartTime: 10},
		events.StepStarted{DrvPath: drv(101), BuildID: 101, StepNr: 1, Machine: "m2", StartTime: 11},
		events.StepStarted{DrvPath: drv(5), BuildID: 5, StepNr: 1, Machine: "m3", StartTime: 12},
		events.BuildCancelled{BuildID: 101, Timestamp: 20},
		events.BuildFinished{BuildID: 101, Status: 3, StartTime: 11, StopTime: 21},
		events.BuildFinished{BuildID: 7, Status: 1, StartTime: 30, StopTime: 31},
		events.BuildFinished{BuildID: 7, Status: 0, StartTime: 30, StopTime: 32},
	})
	dumps := map[int]map[string][]string{}
	for _, batch := range []int{1, 1000} {
		target := fmt.Sprintf("batch_%d", batch)
		sd.replay(t, head, target, batch)
		dumps[batch] = pgtest.Dump(t, sd.pool, target)

		var builds, machine string
		require.NoError(t, sd.pool.QueryRow(ctx, fmt.Sprintf(`select string_agg(id || ':' || finished || ':' || coalesce(buildStatus, -1), ' ' order by id),
				(select string_agg(build || ':' || machine, ' ' order by build) from %[1]s.BuildSteps where build in (5, 101))
			from %[1]s.Builds where id in (7, 100, 101)`, target)).Scan(&builds, &machine))
		require.Equal(t, "7:1:0 101:1:3", builds)
		require.Equal(t, "5:m3 101:m2", machine)
	}
	require.Equal(t, dumps[1], dumps[1000])
}

// appendAll appends ps to stream one event at a time and returns the head.
func (sd seeded) appendAll(t *testing.T, stream string, ps []events.Payload) events.Position {
	t.Helper()
	return sd.appendAllAs(t, stream, events.Metadata{Actor: "component:test"}, ps)
}

// appendAllAs is appendAll with the metadata md.
func (sd seeded) appendAllAs(t *testing.T, stream string, md events.Metadata, ps []events.Payload) events.Position {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	for _, p := range ps {
		ev, err := sd.codec.Encode(p, md, now)
		require.NoError(t, err)
		_, err = sd.store.Append(ctx, stream, events.Any, ev)
		require.NoError(t, err)
	}
	head, err := sd.store.Head(ctx)
	require.NoError(t, err)
	return head
}

// replay replays the Hydra projection up to head into schema target in
// batches of batch events.
func (sd seeded) replay(t *testing.T, head events.Position, target string, batch int) {
	t.Helper()
	_, err := projections.Replay(context.Background(), sd.store, sd.codec, postgres.NewSchemas(sd.pool),
		[]projections.Projection{hydra.Projection{Keys: postgres.NewVault(sd.pool)}}, projections.ReplayOptions{Target: target, Until: head, BatchSize: batch})
	require.NoError(t, err)
}

// testJobset makes events of one jobset of project "p" for synthetic
// histories; its builds are named job<id>.
type testJobset struct {
	id   int64
	name string
}

func (j testJobset) started(eval int64) events.EvaluationStarted {
	return events.EvaluationStarted{EvalID: eval, Project: "p", Jobset: j.name, JobsetID: j.id, StartTime: eval}
}

func (j testJobset) queued(eval, id int64) events.BuildQueued {
	return events.BuildQueued{BuildID: id, EvalID: eval, JobsetID: j.id, Project: "p", Jobset: j.name, Job: fmt.Sprintf("job%d", id),
		DrvPath: drv(int(id)), System: "x86_64-linux", Outputs: []events.Output{{Name: "out", Path: out(int(id))}}}
}

func (j testJobset) finished(eval int64) events.EvaluationFinished {
	return events.EvaluationFinished{EvalID: eval, Project: "p", Jobset: j.name, JobsetID: j.id, Hash: fmt.Sprint(eval), Timestamp: 100 + eval}
}

// jobEvaluated is the JobEvaluated of build id, named job<id>.
func jobEvaluated(eval, id int64, isNew bool) events.JobEvaluated {
	return events.JobEvaluated{EvalID: eval, Job: fmt.Sprintf("job%d", id), BuildID: id, IsNew: isNew}
}

// TestReplayWithoutTrigrams replays on a database without pg_trgm, whose
// schemas lack Hydra's trigram index: the replay defers the indexes it
// finds and builds them again.
func TestReplayWithoutTrigrams(t *testing.T) {
	ctx := context.Background()
	sd := seed(t, 30)
	admin, err := pgxpool.New(ctx, pgtest.AdminURL(t, sd.pool.Config().ConnString()))
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec(ctx, `drop extension pg_trgm cascade`)
	require.NoError(t, err)

	sd.replay(t, sd.head, "no_trgm", 1000)
	var builds, trgm int
	require.NoError(t, sd.pool.QueryRow(ctx, `select (select count(*) from no_trgm.Builds),
		(select count(*) from pg_indexes where schemaname = 'no_trgm' and indexname = 'indextrgmbuildsondrvpath')`).Scan(&builds, &trgm))
	require.Equal(t, 30, builds)
	require.Zero(t, trgm)
}
