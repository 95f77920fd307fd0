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
	out, code = run("replay", "--projection", "per_job_status", "--home", home, "--database-url", url)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "applied 3 events")
	rows, err := pool.Query(ctx, `select build_id, job, status, stop_time from per_job_status_per_job order by build_id`)
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
