package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDaemonServesAndComesBack: the daemon answers Nix on its socket,
// which only root and the group may reach, and is started again when it
// dies.
func TestDaemonServesAndComesBack(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the daemon writes the store, which needs root")
	}
	if _, err := exec.LookPath("nix-daemon"); err != nil {
		t.Skip("nix-daemon not on PATH")
	}
	const gid = 4242
	d, err := Start(context.Background(), Options{Gid: gid})
	require.NoError(t, err)
	defer d.Close()
	st, err := os.Stat(d.dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o750), st.Mode().Perm())
	require.Equal(t, uint32(gid), st.Sys().(*syscall.Stat_t).Gid)

	ping := func() error {
		out, err := exec.Command("nix-store", "--store", d.Store(), "--query", "--hash", nixStorePath(t)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	require.NoError(t, ping())

	first := d.pid.Load()
	require.NotZero(t, first)
	require.NoError(t, syscall.Kill(int(first), syscall.SIGKILL))
	require.Eventually(t, func() bool {
		pid := d.pid.Load()
		if pid == 0 || pid == first {
			return false
		}
		c, err := net.Dial("unix", d.socket())
		if err != nil {
			return false
		}
		c.Close()
		return true
	}, 30*time.Second, 50*time.Millisecond, "a new daemon listens")
	require.NoError(t, ping())

	d.Close()
	_, err = os.Stat(d.dir)
	require.True(t, os.IsNotExist(err), "Close removes the socket's directory")
}

// nixStorePath is some valid store path: the store's own copy of a file.
func nixStorePath(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "marker")
	require.NoError(t, os.WriteFile(f, []byte("marker\n"), 0o644))
	out, err := exec.Command("nix-store", "--add", f).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}
