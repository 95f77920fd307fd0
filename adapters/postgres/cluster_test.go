package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
)

// TestStartClusterTunesMalloc starts a cluster of its own and reads the
// server's environment, which every backend inherits: it must hold the
// malloc settings that keep backends from unmapping memory they reuse.
func TestStartClusterTunesMalloc(t *testing.T) {
	c := startCluster(t)
	pidFile, err := os.ReadFile(filepath.Join(c.DataDir, "postmaster.pid"))
	require.NoError(t, err)
	pid, _, _ := strings.Cut(string(pidFile), "\n")
	environ, err := os.ReadFile(filepath.Join("/proc", pid, "environ"))
	require.NoError(t, err)
	env := strings.Split(string(environ), "\x00")
	require.Contains(t, env, "MALLOC_MMAP_THRESHOLD_=33554432")
	require.Contains(t, env, "MALLOC_TRIM_THRESHOLD_=67108864")
}

// TestStartClusterUnreachableHome starts a cluster, as root, for a data
// directory under a 0700 directory the postgres user cannot enter (a
// checkout in root's home, say): its files go to the spare directory,
// the data directory becomes a link to them, and a second start on the
// same directory shares the running cluster.
func TestStartClusterUnreachableHome(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs the cluster as another user")
	}
	ctx := context.Background()
	home := t.TempDir()
	require.NoError(t, os.Chmod(home, 0o700))
	spare, err := os.MkdirTemp("", "buildledger-spare-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(spare) })
	require.NoError(t, os.Chmod(spare, 0o755))
	dataDir := filepath.Join(home, "postgres")
	opts := postgres.ClusterOptions{DataDir: dataDir, SpareDir: spare}
	c, err := postgres.StartCluster(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })

	target, err := os.Readlink(dataDir)
	require.NoError(t, err, "the data directory is a link")
	require.Equal(t, spare, filepath.Dir(target))
	require.Equal(t, target, c.DataDir)
	st, err := os.Stat(target)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm(), "only the postgres user enters it")

	again, err := postgres.StartCluster(ctx, opts)
	require.NoError(t, err)
	require.Equal(t, c.DataDir, again.DataDir)
	require.Equal(t, c.Port, again.Port, "the running cluster is shared")
	require.NoError(t, again.Stop(ctx), "a borrowed cluster's Stop leaves it running")
}

// startCluster starts a private cluster of the test's own, stopped when
// the test ends.
func startCluster(t *testing.T) *postgres.Cluster {
	t.Helper()
	// Not t.TempDir, whose parent only this user may enter: the server
	// may run as another.
	dir, err := os.MkdirTemp("", "buildledger-cluster-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	c, err := postgres.StartCluster(context.Background(), postgres.ClusterOptions{DataDir: filepath.Join(dir, "data")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })
	return c
}

// TestClusterRefusesOtherLocalUsers is the attack of review finding C1:
// another local account (here nobody; a fixed-output build on the host's
// network is the same) runs psql against the private cluster, over the
// unix socket and over TCP on 127.0.0.1 at the cluster's port, as the
// superuser. Both are refused, while this process, the cluster's owner or
// root, gets in over the socket.
func TestClusterRefusesOtherLocalUsers(t *testing.T) {
	c := startCluster(t)
	const who = "select rolsuper from pg_roles where rolname = current_user"
	for _, tc := range []struct{ name, host string }{
		{name: "socket", host: c.SocketDir},
		{name: "tcp", host: "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := pgtest.Psql(t, "nobody", tc.host, c.Port, who)
			require.Error(t, err, "nobody got in: %s", out)
			require.NotContains(t, out, "t\n")
		})
	}
	out, err := pgtest.Psql(t, "", c.SocketDir, c.Port, who)
	require.NoError(t, err, out)
	info, err := os.Stat(c.SocketDir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), info.Mode().Perm(), "the socket's directory")
}
