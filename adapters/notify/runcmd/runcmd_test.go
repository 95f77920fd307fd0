package runcmd_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/logstore"
	"buildledger/adapters/nix/eval"
	"buildledger/adapters/notify/runcmd"
	"buildledger/domain/runcommand"
)

// runUser is the user test/install-deps.sh creates for RunCommand.
const runUser = "buildledger-run"

func newRunner(t *testing.T) (*runcmd.Runner, *logstore.Store, eval.Identity) {
	t.Helper()
	var id eval.Identity
	if os.Geteuid() == 0 {
		var err error
		id, err = eval.LookupIdentity(runUser, "")
		require.NoError(t, err, "test/install-deps.sh creates %s", runUser)
	}
	logs, err := logstore.New(t.TempDir(), logstore.Options{})
	require.NoError(t, err)
	// A base that does not exist yet, as HOME/runcommand on a first start.
	r, err := runcmd.NewRunner(id, filepath.Join(t.TempDir(), "runcommand"), logs)
	require.NoError(t, err)
	return r, logs, id
}

func readLog(t *testing.T, logs *logstore.Store, uuid string) string {
	t.Helper()
	rc, err := logs.Open(logstore.Location(runcommand.LogName(uuid), 0))
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return string(b)
}

const uuid = "01234567-89ab-4def-8123-456789abcdef"

func intp(n int) *int { return &n }

// TestRunEnds: how each kind of end is recorded, in Hydra's terms.
func TestRunEnds(t *testing.T) {
	r, _, _ := newRunner(t)
	r.Timeout = time.Second
	for _, tc := range []struct {
		name, command       string
		errno, exit, signal *int
		timedOut            bool
	}{
		{"success", `cat "$HYDRA_JSON" >/dev/null`, nil, intp(0), nil, false},
		{"exit code", `exit 3;`, nil, intp(3), nil, false},
		{"not found: exec error ENOENT, as Hydra's errno.t", "invalid-command-this-does-not-exist", intp(2), nil, nil, false},
		{"without shell characters, run directly", "/bin/sh -c exit", nil, intp(0), nil, false},
		{"an assignment goes to the shell", "X=1 false", nil, intp(1), nil, false},
		{"killed", `kill -TERM $$`, nil, nil, intp(int(syscall.SIGTERM)), false},
		{"timed out", `sleep 600`, nil, nil, intp(int(syscall.SIGKILL)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Run(context.Background(), uuid, tc.command, []byte(`{}`))
			require.NoError(t, err)
			require.Equal(t, tc.errno, res.ErrorNumber, "errno")
			require.Equal(t, tc.exit, res.ExitCode, "exit code")
			require.Equal(t, tc.signal, res.Signal, "signal")
			require.Equal(t, tc.timedOut, res.TimedOut)
			require.Equal(t, tc.signal != nil, res.CoreDumped != nil, "core_dumped is set with a signal only")
		})
	}
}

// TestRunSeesOnlyItsOwn: the command reads $HYDRA_JSON, runs as the
// unprivileged user, and gets none of the server's environment.
func TestRunSeesOnlyItsOwn(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "ghp_secret_of_the_server")
	t.Setenv("BUILDLEDGER_DATABASE_URL", "postgres://secret@db/x")
	r, logs, id := newRunner(t)
	payload := []byte(`{"build":7,"event":"buildFinished"}`)
	res, err := r.Run(context.Background(), uuid, `cat "$HYDRA_JSON"; echo; id -u; env`, payload)
	require.NoError(t, err)
	require.Equal(t, intp(0), res.ExitCode)
	out := readLog(t, logs, uuid)
	lines := strings.Split(out, "\n")
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &got))
	require.Equal(t, float64(7), got["build"])
	if !id.IsServer() {
		require.Equal(t, strconv.FormatUint(uint64(id.Credential.Uid), 10), lines[1], "runs as %s", runUser)
	}
	require.NotContains(t, out, "secret", "no server variable reaches the command")
	require.Contains(t, out, "HYDRA_JSON=")
	require.Equal(t, int64(len(out)), res.LogSize)
}

// TestRunCannotReadRootFiles: run as root, the server gives the command
// no root rights: a root-only file stays unread.
func TestRunCannotReadRootFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only a root server switches users")
	}
	r, logs, _ := newRunner(t)
	secret := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(secret, []byte("root-only-content"), 0o600))
	// The directory itself is open: only the file's mode protects it.
	require.NoError(t, os.Chmod(filepath.Dir(secret), 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(filepath.Dir(secret)), 0o755))
	res, err := r.Run(context.Background(), uuid, `cat `+secret+`; cat /etc/shadow`, nil)
	require.NoError(t, err)
	require.NotEqual(t, intp(0), res.ExitCode)
	out := readLog(t, logs, uuid)
	require.NotContains(t, out, "root-only-content")
	require.NotContains(t, out, "root:")
	require.Contains(t, out, "Permission denied")
}

// TestRunOutputIsCapped: output beyond MaxOutput is dropped and the run
// says so.
func TestRunOutputIsCapped(t *testing.T) {
	r, logs, _ := newRunner(t)
	r.MaxOutput = 1000
	res, err := r.Run(context.Background(), uuid, `i=0; while [ $i -lt 500 ]; do echo 0123456789; i=$((i+1)); done`, nil)
	require.NoError(t, err)
	require.Equal(t, intp(0), res.ExitCode)
	require.True(t, res.Truncated)
	require.Equal(t, int64(1000), res.LogSize)
	require.Len(t, readLog(t, logs, uuid), 1000)
}

// TestRootNeedsAUser: a root server does not run commands as root.
func TestRootNeedsAUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root is refused")
	}
	logs, err := logstore.New(t.TempDir(), logstore.Options{})
	require.NoError(t, err)
	_, err = runcmd.NewRunner(eval.Identity{}, t.TempDir(), logs)
	require.ErrorContains(t, err, "unprivileged user")
}
