package postgres_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
)

// TestStartClusterTunesMalloc starts a cluster of its own and reads the
// server's environment, which every backend inherits: it must hold the
// malloc settings that keep backends from unmapping memory they reuse.
func TestStartClusterTunesMalloc(t *testing.T) {
	ctx := context.Background()
	// Not t.TempDir, whose parent only this user may enter: the server
	// may run as another.
	dir, err := os.MkdirTemp("", "buildledger-cluster-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	c, err := postgres.StartCluster(ctx, postgres.ClusterOptions{DataDir: filepath.Join(dir, "data")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })

	pidFile, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	require.NoError(t, err)
	pid, _, _ := strings.Cut(string(pidFile), "\n")
	environ, err := os.ReadFile(filepath.Join("/proc", pid, "environ"))
	require.NoError(t, err)
	env := strings.Split(string(environ), "\x00")
	require.Contains(t, env, "MALLOC_MMAP_THRESHOLD_=33554432")
	require.Contains(t, env, "MALLOC_TRIM_THRESHOLD_=67108864")
}
