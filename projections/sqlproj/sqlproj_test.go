package sqlproj_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/sqlproj"
	"buildledger/test/projtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func load(t *testing.T, dir string) *sqlproj.Projection {
	t.Helper()
	p, err := sqlproj.Load(os.DirFS(dir))
	require.NoError(t, err)
	return p
}

func columns(t *testing.T, pool *pgxpool.Pool, rel string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `select column_name from information_schema.columns where table_name = $1 order by ordinal_position`, rel)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var c string
		require.NoError(t, rows.Scan(&c))
		out = append(out, c)
	}
	return out
}

func TestBlueGreenVersionBump(t *testing.T) {
	ctx := context.Background()
	env := projtest.New(t)
	pool := env.Pool
	add := func(p events.Payload) { env.Append(t, "step-x", events.Metadata{Actor: "component:test"}, p) }
	for i, sys := range []string{"x86_64-linux", "x86_64-linux", "aarch64-linux"} {
		add(&events.StepQueued{DrvPath: "/nix/store/" + sys + string(rune('a'+i)) + ".drv", System: sys, InputDrvs: []string{"/nix/store/in.drv"}[:i%2]})
	}
	v1 := load(t, "testdata/counts_v1")
	require.Equal(t, []string{"StepQueued"}, v1.EventTypes())
	r1 := env.Runner(t, projections.RunnerOptions{}, v1)
	_, err := r1.CatchUp(ctx)
	require.NoError(t, err)
	var n int64
	require.NoError(t, pool.QueryRow(ctx, `select steps from step_counts_per_system where system = 'x86_64-linux'`).Scan(&n))
	require.EqualValues(t, 2, n)

	// Version 2 is built beside version 1: until it has caught up, readers
	// still see version 1 through the view.
	v2 := load(t, "testdata/counts_v2")
	r2 := env.Runner(t, projections.RunnerOptions{BatchSize: 1}, v2)
	_, err = r2.Step(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"system", "steps"}, columns(t, pool, "step_counts_per_system"), "still version 1")
	require.Equal(t, 5, len(columns(t, pool, "step_counts_per_system_v2")), "version 2 is being built")
	// Version 1 keeps running meanwhile.
	add(&events.StepQueued{DrvPath: "/nix/store/late.drv", System: "x86_64-linux"})
	_, err = r1.CatchUp(ctx)
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, `select steps from step_counts_per_system where system = 'x86_64-linux'`).Scan(&n))
	require.EqualValues(t, 3, n)

	_, err = r2.CatchUp(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"system", "steps", "with_inputs", "last_drv", "last_at"}, columns(t, pool, "step_counts_per_system"), "swapped to version 2")
	var with int64
	var last string
	require.NoError(t, pool.QueryRow(ctx, `select steps, with_inputs, last_drv from step_counts_per_system where system = 'x86_64-linux'`).Scan(&n, &with, &last))
	require.EqualValues(t, 3, n)
	require.EqualValues(t, 1, with)
	require.Equal(t, "/nix/store/late.drv", last)
	require.Equal(t, 2, len(columns(t, pool, "step_counts_per_system_v1")), "version 1 kept for rollback")
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no conf", map[string]string{}, "projection.conf"},
		{"bad name", map[string]string{"projection.conf": "name = Bad-Name\nversion = 1\ntables = t", "migration.sql": "", "on/T.sql": "select 1"}, "projection name"},
		{"undeclared table", map[string]string{"projection.conf": "name = p\nversion = 1\ntables = t", "migration.sql": `create table {{table "u"}} ()`, "on/T.sql": "select 1"}, "not declared"},
		{"no handlers", map[string]string{"projection.conf": "name = p\nversion = 1\ntables = t", "migration.sql": `create table {{table "t"}} ()`}, "no on/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				require.NoError(t, os.MkdirAll(dir+"/on", 0o755))
				require.NoError(t, os.WriteFile(dir+"/"+name, []byte(body), 0o644))
			}
			_, err := sqlproj.Load(os.DirFS(dir))
			require.ErrorContains(t, err, tc.want)
		})
	}
}
