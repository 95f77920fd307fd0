package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/esdb/esdbtest"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
)

// TestEventsCopyToESDB copies a log from Postgres to EventStoreDB (the
// protocol test double), twice (the second copy changes nothing), and
// checks that a replay from either store gives the same read models.
func TestEventsCopyToESDB(t *testing.T) {
	url := pgtest.URL(t)
	srv := esdbtest.Start(t, esdbtest.Options{})
	run := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		code := newApp(&out, &errb).main(context.Background(), append(args, "--database-url", url))
		require.Equal(t, 0, code, "%v: %s%s", args, out.String(), errb.String())
		return out.String()
	}
	pw := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(pw, []byte("secret\n"), 0o600))
	run("user", "create", "alice", "--role", "admin", "--password-file", pw)
	run("project", "create", "demo", "--owner", "alice")
	run("jobset", "create", "demo", "main", "--input", "src=git:https://example.org/x.git", "--nixexprinput", "src")
	run("jobset", "create", "demo", "other", "--input", "src=path:/tmp", "--nixexprinput", "src", "--shares", "7")

	out := run("events", "copy", "--from", "postgres", "--to", srv.ConnString())
	require.Contains(t, out, "copied 6 events")
	out = run("events", "copy", "--from", "postgres", "--to", srv.ConnString())
	require.Contains(t, out, "copied 6 events", "a second copy re-appends the same ids: a no-op")

	const future = "2100-01-01T00:00:00Z"
	run("replay", "--until", future, "--into", "from_pglog")
	run("replay", "--until", future, "--into", "from_esdb", "--eventstore", srv.ConnString())

	ctx := context.Background()
	pool, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	fromPG, fromESDB := pgtest.Dump(t, pool, "from_pglog"), pgtest.Dump(t, pool, "from_esdb")
	for _, table := range []string{"users", "userroles", "projects", "jobsets", "jobsetinputs", "jobsetinputalts"} {
		a, b := fromPG[table], fromESDB[table]
		require.NotEmpty(t, a, table)
		require.Equal(t, a, b, "table %s differs between a replay from Postgres and one from EventStoreDB", table)
	}
}
