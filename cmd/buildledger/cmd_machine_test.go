package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
)

// TestMain gives the package's tests a private Postgres (pgtest).
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestMachineCommands(t *testing.T) {
	url := pgtest.URL(t)
	run := func(args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := newApp(&out, &errb).main(context.Background(), append(args, "--database-url", url))
		return out.String() + errb.String(), code
	}
	out, code := run("machine", "add", "ssh://root@host1:2222", "--max-jobs", "4", "--supported-features", "kvm,nixos-test")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "registered machine host1-2222")
	out, code = run("machine", "add", "ftp://host1")
	require.Equal(t, 1, code, "unknown scheme")
	require.Contains(t, out, "ftp")

	file := filepath.Join(t.TempDir(), "machines")
	require.NoError(t, os.WriteFile(file, []byte("ssh://b2 x86_64-linux - 2 2 big-parallel\nlocalhost x86_64-linux,builtin - 3 1\n"), 0o644))
	out, code = run("machine", "sync", file)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "3 machine changes", "two registered, host1 removed")
	out, code = run("machine", "sync", file)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "0 machine changes", "a second sync changes nothing")
	out, code = run("machine", "list")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "b2")
	require.Contains(t, out, "localhost")
	require.NotContains(t, out, "host1")

	require.NoError(t, os.WriteFile(file, []byte("ssh://b2 x86_64-linux - 8 2 big-parallel\nbogus://x\n"), 0o644))
	out, code = run("machine", "sync", file)
	require.Equal(t, 1, code, "a bad line changes nothing")
	require.Contains(t, out, "line 2")
	out, code = run("machine", "remove", "b2")
	require.Equal(t, 0, code, out)
	out, code = run("machine", "remove", "b2")
	require.Equal(t, 1, code, "already removed")
	out, code = run("machine", "list")
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "b2")
}
