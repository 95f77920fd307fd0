package postgres_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// freshSchema creates a migrated read-model schema named name.
func freshSchema(t *testing.T, pool *pgxpool.Pool, name string) *postgres.Schemas {
	t.Helper()
	schemas := postgres.NewSchemas(pool)
	_, release, err := schemas.Create(context.Background(), name)
	require.NoError(t, err)
	release()
	return schemas
}

// column returns the first column of query's rows.
func column(t *testing.T, pool *pgxpool.Pool, query string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), query, args...)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// constraints lists the constraints of schema with their definitions and
// the triggers that enforce them.
func constraints(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	return column(t, pool, `select c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
			|| ' ' || k.confdeltype::text || k.confupdtype::text || k.confmatchtype::text || k.condeferrable || k.convalidated
			|| ' ' || (select count(*) from pg_trigger g where g.tgconstraint = k.oid)
		from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
		where n.nspname = $1 order by 1`, schema)
}

func foreignKeys(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	return column(t, pool, `select k.conname from pg_constraint k join pg_namespace n on n.oid = k.connamespace
		where n.nspname = $1 and k.contype = 'f' order by 1`, schema)
}

// TestForeignKeysRoundTrip drops every foreign key of a migrated schema
// and adds them back: the constraints must be the same as before.
func TestForeignKeysRoundTrip(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	schemas := freshSchema(t, pool, "fk_roundtrip")
	before := constraints(t, pool, "fk_roundtrip")
	names := foreignKeys(t, pool, "fk_roundtrip")
	require.Contains(t, names, "buildstepoutputs_build_stepnr_fkey")

	keys, err := schemas.DropForeignKeys(ctx, "fk_roundtrip", names)
	require.NoError(t, err)
	require.Len(t, keys, len(names))
	for i, k := range keys {
		require.Equal(t, names[i], k.Name)
	}
	require.Empty(t, foreignKeys(t, pool, "fk_roundtrip"))
	require.Equal(t, foreignKeys(t, pool, postgres.ReadModelSchema), names, "the live schema keeps its keys")

	require.NoError(t, schemas.AddForeignKeys(ctx, keys, nil))
	require.Equal(t, before, constraints(t, pool, "fk_roundtrip"))
}

// TestDropForeignKeysRefuses checks that DropForeignKeys drops nothing
// when a name is not a foreign key of the schema.
func TestDropForeignKeysRefuses(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	schemas := freshSchema(t, pool, "fk_refuse")
	names := foreignKeys(t, pool, "fk_refuse")
	for _, tc := range []struct{ name, want string }{
		{"builds_pkey", "no foreign key builds_pkey"},
		{"nosuchkey", "no foreign key nosuchkey"},
	} {
		_, err := schemas.DropForeignKeys(ctx, "fk_refuse", []string{"builds_jobset_id_fkey", tc.name})
		require.ErrorContains(t, err, tc.want)
		require.Equal(t, names, foreignKeys(t, pool, "fk_refuse"))
	}
}

// TestAddForeignKeysRemovesOrphans adds keys back over rows that break
// them: the rows are removed as each key's ON DELETE action would have,
// and a row whose parent goes takes its own children along, in whatever
// order the keys come; a key with no such action is refused, and dropped.
func TestAddForeignKeysRemovesOrphans(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	const schema = "fk_orphans"
	schemas := freshSchema(t, pool, schema)
	exec := func(sql string) {
		t.Helper()
		_, err := pool.Exec(ctx, fmt.Sprintf(sql, schema))
		require.NoError(t, err, sql)
	}
	exec(`insert into %[1]s.Users (userName, emailAddress, password) values ('u', '', '');
		insert into %[1]s.Projects (name, displayName, owner) values ('p', 'P', 'u');
		insert into %[1]s.Jobsets (name, id, project, nixExprInput, nixExprPath, emailOverride) values ('j', 1, 'p', 'src', 'release.nix', '');
		insert into %[1]s.EvaluationErrors (id, errorMsg) values (5, 'boom')`)
	keys, err := schemas.DropForeignKeys(ctx, schema, []string{"builds_jobset_id_fkey", "jobsetevals_evaluationerror_id_fkey",
		"buildsteps_build_fkey", "buildstepoutputs_build_fkey", "buildstepoutputs_build_stepnr_fkey"})
	require.NoError(t, err)
	// Build 3's jobset is missing, so are build 4 and step 1.2: build 3,
	// its step and its step's output, step 4.1, output 1.2 and eval 2's
	// error go.
	exec(`insert into %[1]s.Builds (id, finished, timestamp, jobset_id, job, drvPath, system)
			values (1, 0, 0, 1, 'a', 'a.drv', 'x'), (2, 0, 0, 1, 'b', 'b.drv', 'x'), (3, 0, 0, 99, 'c', 'c.drv', 'x');
		insert into %[1]s.BuildSteps (build, stepnr, type, drvPath, busy) values (1, 1, 0, 'a.drv', 0), (3, 1, 0, 'c.drv', 0), (4, 1, 0, 'd.drv', 0);
		insert into %[1]s.BuildStepOutputs (build, stepnr, name) values (1, 1, 'out'), (3, 1, 'out'), (1, 2, 'out'), (4, 1, 'out');
		insert into %[1]s.JobsetEvals (id, jobset_id, evaluationerror_id, timestamp, checkoutTime, evalTime, hasNewBuilds, hash)
			values (1, 1, 5, 0, 0, 0, 0, 'h'), (2, 1, 77, 0, 0, 0, 0, 'h'), (3, 1, null, 0, 0, 0, 0, 'h')`)
	// Children's keys first, and an index of Builds built meanwhile.
	slices.Reverse(keys)
	defs, err := schemas.DropIndexes(ctx, schema, []string{"indexbuildsondrvpath"})
	require.NoError(t, err)
	require.NoError(t, schemas.AddForeignKeys(ctx, keys, defs))
	require.Equal(t, []string{"indexbuildsondrvpath"}, column(t, pool,
		`select indexname::text from pg_indexes where schemaname = $1 and indexname = 'indexbuildsondrvpath'`, schema))
	require.Equal(t, []string{"1", "2"}, column(t, pool, fmt.Sprintf(`select id::text from %s.Builds order by id`, schema)))
	require.Equal(t, []string{"1.1"}, column(t, pool, fmt.Sprintf(`select build || '.' || stepnr from %s.BuildSteps`, schema)))
	require.Equal(t, []string{"1.1.out"}, column(t, pool, fmt.Sprintf(`select build || '.' || stepnr || '.' || name from %s.BuildStepOutputs`, schema)))
	require.Equal(t, []string{"1:5", "2:", "3:"}, column(t, pool,
		fmt.Sprintf(`select id || ':' || coalesce(evaluationerror_id::text, '') from %s.JobsetEvals order by id`, schema)))
	require.Equal(t, foreignKeys(t, pool, postgres.ReadModelSchema), foreignKeys(t, pool, schema))
	require.Equal(t, []string{"builds", "buildstepoutputs", "buildsteps", "jobsetevals"}, column(t, pool,
		`select relname::text from pg_stat_user_tables where schemaname = $1 and vacuum_count > 0 order by 1`, schema), "the tables vacuumed")

	// JobsetEvalInputs' build dependency has no ON DELETE action.
	keys, err = schemas.DropForeignKeys(ctx, schema, []string{"jobsetevalinputs_dependency_fkey"})
	require.NoError(t, err)
	require.Empty(t, keys[0].Orphans)
	exec(`insert into %[1]s.JobsetEvalInputs (eval, name, altNr, type, dependency) values (1, 'dep', 0, 'build', 42)`)
	err = schemas.AddForeignKeys(ctx, keys, nil)
	require.ErrorContains(t, err, "add foreign key jobsetevalinputs_dependency_fkey")
	require.NotContains(t, foreignKeys(t, pool, schema), "jobsetevalinputs_dependency_fkey")
	require.Equal(t, []string{"42"}, column(t, pool, fmt.Sprintf(`select dependency::text from %s.JobsetEvalInputs`, schema)))
}
