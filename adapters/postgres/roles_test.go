package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/events"
)

// TestBootstrapRoles starts a private cluster as buildledger does, on a
// database an older version had migrated as the superuser, and plays the
// attacks of review findings C1 and L9 as each role: the application's
// role is no superuser, cannot run programs or change the log, and an
// analyst's SQL can read the log but write neither it nor a read model.
// Even the superuser meets the append-only trigger.
func TestBootstrapRoles(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t)
	admin := c.AdminURL("postgres")
	require.NoError(t, postgres.WaitReady(ctx, admin, 30*time.Second))
	// The database as an older version left it: everything the
	// superuser's.
	adminPool := open(t, admin)
	require.NoError(t, postgres.Migrate(ctx, adminPool))

	require.NoError(t, postgres.Bootstrap(ctx, admin))
	require.NoError(t, postgres.Bootstrap(ctx, admin), "a second start")
	appURL, err := postgres.AppURL(admin)
	require.NoError(t, err)
	analystURL, err := postgres.AnalystURL(admin)
	require.NoError(t, err)
	app, analyst := open(t, appURL), open(t, analystURL)
	require.NoError(t, postgres.Migrate(ctx, app), "the application migrates its read models")

	// The application appends through the production writer and keeps
	// its read models.
	ev, err := events.NewCodec().Encode(&events.BuildQueued{BuildID: 1, Project: "p", Jobset: "j", Job: "hello", DrvPath: "/nix/store/a.drv"},
		events.Metadata{Actor: "component:test"}, time.Now())
	require.NoError(t, err)
	_, err = pglog.New(app, pglog.Options{}).Append(ctx, "build-1", events.Any, ev)
	require.NoError(t, err)
	for _, stmt := range []string{
		`insert into users (username, emailaddress, password) values ('alice', 'a@example.org', 'x')`,
		`insert into userroles (username, role) values ('alice', 'admin')`,
		`delete from userroles`,
		`create schema replay_x`,
		`drop schema replay_x`,
	} {
		_, err := app.Exec(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	var super bool
	require.NoError(t, app.QueryRow(ctx, `select rolsuper from pg_roles where rolname = current_user`).Scan(&super))
	require.False(t, super, "the application's role is a superuser")
	var n int
	require.NoError(t, analyst.QueryRow(ctx, `select count(*) from ledger.events`).Scan(&n))
	require.Equal(t, 1, n, "analysts read the log")
	_, err = analyst.Exec(ctx, `create table mine (x int); insert into mine values (1); create view mine_v as select * from mine`)
	require.NoError(t, err, "analysts write their own tables")

	for _, tc := range []struct {
		name string
		pool *pgxpool.Pool
		sql  string
		want string
	}{
		{"app update", app, `update ledger.events set data = '{}'`, "SQLSTATE 42501"},
		{"app delete", app, `delete from ledger.events`, "SQLSTATE 42501"},
		{"app truncate", app, `truncate ledger.events`, "SQLSTATE 42501"},
		{"app insert", app, `insert into ledger.events select position + 1, stream, revision + 1, gen_random_uuid(), type, version, data, metadata from ledger.events`, "SQLSTATE 42501"},
		{"app counter", app, `update ledger.counter set position = 0`, "SQLSTATE 42501"},
		{"app program", app, `copy (select 1) to program 'true'`, "SQLSTATE 42501"},
		{"app file", app, `select pg_read_file('/etc/hostname')`, "SQLSTATE 42501"},
		{"app role", app, `create role eve superuser`, "SQLSTATE 42501"},
		{"analyst delete", analyst, `delete from ledger.events`, "SQLSTATE 42501"},
		{"analyst read model", analyst, `insert into public.userroles (username, role) values ('eve', 'admin')`, "SQLSTATE 42501"},
		{"analyst users", analyst, `select * from public.users`, "SQLSTATE 42501"},
		{"analyst credentials", analyst, `select * from vault.credentials`, "SQLSTATE 42501"},
		{"analyst profile keys", analyst, `select * from vault.user_keys`, "SQLSTATE 42501"},
		{"analyst append", analyst, `select ledger.append_sealed('{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')`, "SQLSTATE 42501"},
		{"analyst public", analyst, `create table public.users2 (x int)`, "SQLSTATE 42501"},
		{"analyst program", analyst, `copy (select 1) to program 'true'`, "SQLSTATE 42501"},
		{"owner update", adminPool, `update ledger.events set data = '{}'`, "append-only"},
		{"owner delete", adminPool, `delete from ledger.events`, "append-only"},
		{"owner truncate", adminPool, `truncate ledger.events`, "append-only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.pool.Exec(ctx, tc.sql)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.NoError(t, adminPool.QueryRow(ctx, `select count(*) from ledger.events`).Scan(&n))
	require.Equal(t, 1, n)
}

func open(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}
