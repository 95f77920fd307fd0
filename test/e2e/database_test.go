package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUpDatabaseLockedDown runs the real "buildledger up" and attacks its
// private cluster as review finding C1 did: another local account runs
// psql as the superuser, over the socket and over TCP at the port in
// postmaster.pid. Both are refused. The server's own connections are the
// unprivileged application role's.
func TestUpDatabaseLockedDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs psql as nobody, which needs root")
	}
	if _, err := user.Lookup("nobody"); err != nil {
		t.Skip("no nobody user")
	}
	u := startUp(t)
	u.waitHealthy(t, &http.Client{})
	dataDir := filepath.Join(u.home, "postgres")
	pid, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	require.NoError(t, err)
	port := strings.TrimSpace(strings.Split(string(pid), "\n")[3])
	psql := func(as, host, sql string) (string, error) {
		args := []string{"psql", "-h", host, "-p", port, "-U", "postgres", "-d", "postgres", "-Atc", sql}
		if as != "" {
			args = append([]string{"runuser", "-u", as, "--"}, args...)
		}
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		return string(out), err
	}
	for _, host := range []string{dataDir, "127.0.0.1"} {
		out, err := psql("nobody", host, "select rolsuper from pg_roles where rolname = current_user")
		require.Error(t, err, "nobody got in through %s: %s", host, out)
	}
	out, err := psql("", dataDir, `select string_agg(distinct usename || ':' || r.rolsuper, ',')
		from pg_stat_activity a join pg_roles r on r.rolname = a.usename
		where a.backend_type = 'client backend' and a.pid <> pg_backend_pid()`)
	require.NoError(t, err, out)
	require.Equal(t, "buildledger:false", strings.TrimSpace(out), "the server's connections")
}
