package main

import (
	"bytes"
	"context"
	"encoding/json"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections/sqlproj"
)

func TestProjectionNewAndReplay(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	url := pgtest.URL(t)
	run := func(args ...string) (string, int) {
		var out bytes.Buffer
		code := newApp(&out, &out).main(ctx, args)
		return out.String(), code
	}
	out, code := run("projection", "new", "per_job_status", "--home", home)
	require.Equal(t, 0, code, out)
	_, err := sqlproj.Load(os.DirFS(filepath.Join(home, "projections", "per_job_status")))
	require.NoError(t, err, "the SQL scaffold loads as it is")
	out, code = run("projection", "new", "per_job_status", "--home", home)
	require.Equal(t, 1, code, "refuses to overwrite: %s", out)
	out, code = run("projection", "new", "Bad", "--home", home)
	require.Equal(t, 1, code, out)

	goDir := t.TempDir()
	out, code = run("projection", "new", "mine", "--go", "--dir", goDir)
	require.Equal(t, 0, code, out)
	_, err = parser.ParseFile(token.NewFileSet(), filepath.Join(goDir, "mine", "mine.go"), nil, parser.AllErrors)
	require.NoError(t, err, "the Go scaffold parses")

	// Some history, then build the scaffolded projection from it.
	pool, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	require.NoError(t, postgres.Migrate(ctx, pool))
	store := pglog.New(pool, pglog.Options{})
	codec := events.NewCodec()
	for _, p := range []events.Payload{
		&events.BuildQueued{BuildID: 1, Project: "p", Jobset: "j", Job: "hello", DrvPath: "/nix/store/a.drv"},
		&events.BuildQueued{BuildID: 2, Project: "p", Jobset: "j", Job: "world", DrvPath: "/nix/store/b.drv"},
		&events.BuildFinished{BuildID: 1, Status: 0, StartTime: 10, StopTime: 20},
	} {
		ev, err := codec.Encode(p, events.Metadata{Actor: "component:test"}, time.Now())
		require.NoError(t, err)
		_, err = store.Append(ctx, "build-x", events.Any, ev)
		require.NoError(t, err)
	}
	analystURL, err := postgres.AnalystURL(url)
	require.NoError(t, err)
	out, code = run("replay", "--projection", "per_job_status", "--home", home, "--database-url", url, "--analyst-database-url", analystURL)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "applied 3 events")
	analyst, err := postgres.Open(ctx, analystURL)
	require.NoError(t, err)
	defer analyst.Close()
	rows, err := analyst.Query(ctx, `select build_id, job, status, stop_time from analyst.per_job_status_per_job order by build_id`)
	require.NoError(t, err)
	var got []any
	for rows.Next() {
		vals, err := rows.Values()
		require.NoError(t, err)
		got = append(got, vals)
	}
	b, _ := json.Marshal(got)
	require.JSONEq(t, `[[1,"hello",0,20],[2,"world",null,null]]`, string(b))

	out, code = run("replay", "--projection", "queue_wait", "--home", home, "--database-url", url)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "projection queue_wait")
	out, code = run("projection", "list", "--home", home)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "per_job_status")
	require.Contains(t, out, "build_duration")
}

// TestAnalystProjectionConfined is review finding L9's attack: an
// analyst's SQL projection, built with replay --projection, tries to
// change the log, a read model (grant itself admin) and to run a program.
// Each is refused, the build fails, and the log is as it was.
func TestAnalystProjectionConfined(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	analystURL, err := postgres.AnalystURL(url)
	require.NoError(t, err)
	pool, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	ev, err := events.NewCodec().Encode(&events.BuildQueued{BuildID: 1, Project: "p", Jobset: "j", Job: "hello", DrvPath: "/nix/store/a.drv"},
		events.Metadata{Actor: "component:test"}, time.Now())
	require.NoError(t, err)
	_, err = pglog.New(pool, pglog.Options{}).Append(ctx, "build-1", events.Any, ev)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `insert into users (username, emailaddress, password) values ('eve', 'e@example.org', 'x')`)
	require.NoError(t, err)

	for _, tc := range []struct{ name, sql string }{
		{"delete the log", `delete from ledger.events`},
		{"rewrite the log", `update ledger.events set data = '{}'`},
		{"grant admin", `insert into public.userroles (username, role) values ('eve', 'admin')`},
		{"reset a password", `update public.users set password = 'x2'`},
		{"run a program", `copy (select 1) to program 'true'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			dir := filepath.Join(home, "projections", "evil")
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "on"), 0o755))
			for name, text := range map[string]string{
				"projection.conf":    "name = evil\nversion = 1\ntables = t\n",
				"migration.sql":      `create table {{table "t"}} (id bigint);`,
				"on/BuildQueued.sql": `insert into {{table "t"}} values (:buildId); ` + tc.sql,
			} {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644))
			}
			var out bytes.Buffer
			code := newApp(&out, &out).main(ctx, []string{"replay", "--projection", "evil", "--home", home,
				"--database-url", url, "--analyst-database-url", analystURL})
			require.Equal(t, 1, code, out.String())
			require.Contains(t, out.String(), "42501", "refused for want of privilege")
			var n, admins int
			require.NoError(t, pool.QueryRow(ctx, `select count(*) from ledger.events where data::text <> '{}'`).Scan(&n))
			require.Equal(t, 1, n)
			require.NoError(t, pool.QueryRow(ctx, `select count(*) from userroles`).Scan(&admins))
			require.Zero(t, admins)
		})
	}
}
