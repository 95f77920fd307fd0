package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
)

// hydraIndexes are the 37 indexes of Hydra's schema version 87, as
// Postgres names them.
var hydraIndexes = []string{
	"indexbuildinputsonbuild", "indexbuildinputsondependency", "indexbuildmetricsonjobtimestamp",
	"indexbuildproducstonbuildandtype", "indexbuildproductsonbuild", "indexbuildstepsonbusy", "indexbuildstepsondrvpath",
	"indexbuildstepsonpropagatedfrom", "indexbuildstepsonstoptime", "indexbuildstepoutputsonpath", "indexbuildsonfinished",
	"indexbuildsoniscurrent", "indexbuildsjobsetidcurrentunfinished", "indexbuildsjobsetidcurrentfinishedstatus",
	"indexbuildsjobsetidcurrent", "indexbuildsontimestamp", "indexbuildsonfinishedstoptime", "indexbuildsonjobsetidfinishedid",
	"indexfinishedsuccessfulbuilds", "indexbuildsondrvpath", "indexcachedhginputsonhash", "indexcachedgitinputsonhash",
	"indexcachedsubversioninputsonurirevision", "indexcachedbazaarinputsonurirevision", "indexjobsetevalmembersonbuild",
	"indexjobsetevalmembersoneval", "indexjobsetinputaltsoninput", "indexjobsetinputaltsonjobset", "indexprojectsonenabled",
	"indexbuildoutputspath", "indexbuildsonkeep", "indexjobsetevalsonjobsetid", "indexjobsetidevals",
	"indexbuildsonnotificationpendingsince", "indextaskretriesordered", "indexruncommandlogsonbuildid",
	"indextrgmbuildsondrvpath",
}

// indexesOf lists the indexes of schema that are not a key's.
func indexesOf(t *testing.T, pool *pgxpool.Pool, schema string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select indexname::text from pg_indexes where schemaname = $1
		and indexname not like '%\_pkey' and indexname not like '%\_unique' and indexname not like '%\_key'`, schema)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// TestHydraIndexes checks that the live read models have every index of
// Hydra's schema, the trigram one too: Bootstrap installed pg_trgm.
func TestHydraIndexes(t *testing.T) {
	pool := pgtest.NewPool(t)
	require.Len(t, hydraIndexes, 37)
	require.Subset(t, indexesOf(t, pool, postgres.ReadModelSchema), hydraIndexes)
	var def string
	require.NoError(t, pool.QueryRow(context.Background(), `select indexdef from pg_indexes where indexname = 'indextrgmbuildsondrvpath'`).Scan(&def))
	require.Contains(t, def, "gin (drvpath "+postgres.ExtensionSchema+".gin_trgm_ops)")
}

// TestReadModelsWithoutTrigrams migrates read models on a database
// without pg_trgm, as an operator's own Postgres may be: the migration
// succeeds, without the trigram index and with every other one.
func TestReadModelsWithoutTrigrams(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	admin, err := pgxpool.New(ctx, pgtest.AdminURL(t, pool.Config().ConnString()))
	require.NoError(t, err)
	defer admin.Close()
	_, err = admin.Exec(ctx, `drop extension pg_trgm cascade`)
	require.NoError(t, err)

	require.NoError(t, postgres.MigrateReadModels(ctx, pool, "no_trgm"))
	got := indexesOf(t, pool, "no_trgm")
	require.NotContains(t, got, "indextrgmbuildsondrvpath")
	require.Subset(t, got, hydraIndexes[:len(hydraIndexes)-1])
}
