package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
)

// TestUpDatabaseLockedDown runs the real "buildledger up" and attacks its
// private cluster as review finding C1 did: another local account runs
// psql as the superuser, over the socket and over TCP at the port in
// postmaster.pid. Both are refused. The server's own connections are the
// unprivileged application role's.
func TestUpDatabaseLockedDown(t *testing.T) {
	u := startUp(t)
	u.waitHealthy(t, &http.Client{})
	dataDir := filepath.Join(u.home, "postgres")
	pid, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	require.NoError(t, err)
	port, err := strconv.Atoi(strings.TrimSpace(strings.Split(string(pid), "\n")[3]))
	require.NoError(t, err)
	for _, host := range []string{dataDir, "127.0.0.1"} {
		out, err := pgtest.Psql(t, "nobody", host, port, "select rolsuper from pg_roles where rolname = current_user")
		require.Error(t, err, "nobody got in through %s: %s", host, out)
	}
	out, err := pgtest.Psql(t, "", dataDir, port, `select string_agg(distinct usename || ':' || r.rolsuper, ',')
		from pg_stat_activity a join pg_roles r on r.rolname = a.usename
		where a.backend_type = 'client backend' and a.pid <> pg_backend_pid()`)
	require.NoError(t, err, out)
	require.Equal(t, "buildledger:false", strings.TrimSpace(out), "the server's connections")
}
