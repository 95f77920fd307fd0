package hydraimport_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/hydraimport"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/domain/password"
	"buildledger/events"
	"buildledger/events/audit"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

type ledger struct {
	pool  *pgxpool.Pool
	store *pglog.Store
	vault *postgres.Vault
	h     *commands.Handlers
}

func newLedger(t testing.TB) ledger {
	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	rt := commands.NewRuntime(store, events.NewCodec(), commands.Options{Host: "importer"})
	vault := postgres.NewVault(pool)
	return ledger{pool: pool, store: store, vault: vault, h: commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), vault)}
}

// roundTrip lists, per table, the columns compared between Hydra's table
// and the projected one (docs/migrating-from-hydra.md says why the
// others differ).
var roundTrip = map[string]string{
	"Users":           "userName, fullName, emailAddress, emailOnError, type, publicDashboard",
	"UserRoles":       "userName, role",
	"Projects":        "name, displayName, description, enabled, hidden, owner, homepage, declfile, decltype, declvalue",
	"ProjectMembers":  "project, userName",
	"Jobsets":         "name, id, project, description, nixExprInput, nixExprPath, enabled, enableEmail, hidden, emailOverride, keepnr, checkInterval, schedulingShares, type, flake, triggerTime, forceEval",
	"JobsetRenames":   "project, from_, to_",
	"JobsetInputs":    "project, jobset, name, type, emailResponsible",
	"JobsetInputAlts": "project, jobset, input, altnr, value",
	"Builds":          "id, finished, timestamp, jobset_id, job, nixName, description, drvPath, system, license, homepage, maintainers, maxsilent, timeout, isChannel, isCurrent, priority, globalPriority, keep, startTime, stopTime, isCachedBuild, buildStatus, size, closureSize, releaseName",
	"BuildOutputs":    "build, name, path",
	// A step Hydra had busy is recorded aborted (checked below).
	"BuildSteps where (build, stepnr) <> (5, 1)": "build, stepnr, type, drvPath, status, errorMsg, startTime, machine, system, propagatedFrom, timesBuilt",
	"BuildStepOutputs":                           "build, stepnr, name, path",
	"BuildProducts":                              "build, productnr, type, subtype, fileSize, sha256hash, path, name, defaultPath",
	"BuildMetrics":                               "build, name, unit, value, project, jobset, job, timestamp",
	"EvaluationErrors":                           "errorMsg, errorTime",
	"JobsetEvals":                                "id, jobset_id, timestamp, checkoutTime, evalTime, hasNewBuilds, hash, nrBuilds, flake, nixExprInput, nixExprPath",
	"JobsetEvalInputs":                           "eval, name, altNr, type, uri, revision, shortRevLength, value, dependency, path, sha256hash",
	"JobsetEvalMembers":                          "eval, build, isNew",
	"AggregateConstituents":                      "aggregate, constituent",
	"FailedPaths":                                "path",
	"NewsItems":                                  "id, contents, createTime, author",
	"StarredJobs":                                "userName, project, jobset, job",
}

func rowsOf(t *testing.T, pool *pgxpool.Pool, table, cols string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select (`+cols+`)::text from `+table+` order by 1`)
	require.NoError(t, err, table)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err, table)
	return out
}

// TestRoundTrip imports a Hydra database filled with realistic rows,
// projects the log, and finds every compared column of every table equal
// to the source, row for row; the import is idempotent, its history
// verifies, and Hydra's password hashes log in.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	l := newLedger(t)
	src := hydraDB(t, l.pool)
	_, err := src.Exec(ctx, realistic)
	require.NoError(t, err)

	st, err := hydraimport.New(src, l.store, l.h, hydraimport.Options{ChunkBuilds: 4}).Run(ctx)
	require.NoError(t, err)
	require.Equal(t, 6, st.Rows["Builds"])
	require.Equal(t, 2, st.Users)
	require.Positive(t, st.Appended)

	again, err := hydraimport.New(src, l.store, l.h, hydraimport.Options{ChunkBuilds: 3}).Run(ctx)
	require.NoError(t, err)
	require.Zero(t, again.Appended, "a second run appends nothing")
	require.Equal(t, 2, again.UsersSkipped)

	res, err := audit.VerifyLog(ctx, l.store, audit.VerifyOptions{})
	require.NoError(t, err)
	require.Nil(t, res.Break)

	_, err = projections.Replay(ctx, l.store, events.NewCodec(), postgres.NewSchemas(l.pool),
		[]projections.Projection{hydra.Projection{Keys: l.vault}}, projections.ReplayOptions{Target: "imported"})
	require.NoError(t, err)
	for table, cols := range roundTrip {
		require.Equal(t, rowsOf(t, src, table, cols), rowsOf(t, l.pool, postgres.ReadModelSchema+"."+table, cols), table)
	}

	var busy, st3 int
	require.NoError(t, l.pool.QueryRow(ctx, `select busy, status from BuildSteps where build = 5 and stepnr = 1`).Scan(&busy, &st3))
	require.Equal(t, []int{0, 3}, []int{busy, st3}, "the busy step is aborted, its build queued again")

	// Every imported event says where it came from; users were
	// created through the command side, with the origin too.
	evs, err := l.store.ReadAll(ctx, events.Start, 0)
	require.NoError(t, err)
	for _, ev := range evs {
		require.Equal(t, "hydra", ev.Metadata.ImportedFrom, ev.Type)
		require.NotEmpty(t, ev.Metadata.Source, ev.Type)
	}

	for user, pw := range map[string]string{"alice": "hydra-sha1", "bob": "foobar"} {
		var hash string
		require.NoError(t, l.pool.QueryRow(ctx, `select password_hash from vault.credentials where user_name = $1`, user).Scan(&hash))
		ok, rehash, err := password.Check(pw, hash, password.DefaultParams)
		require.NoError(t, err)
		require.True(t, ok && rehash, user)
	}
}
