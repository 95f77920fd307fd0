package pgtest

import (
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"testing"
)

// Psql runs psql as the superuser postgres on database postgres of the
// server at host (a socket directory or an address) and port, as the
// local account as, or as this process if as is "". Tests that play
// another local user attacking a cluster use it; they are skipped unless
// this process is root (to switch users) and as exists.
func Psql(t testing.TB, as, host string, port int, sql string) (string, error) {
	t.Helper()
	args := []string{"psql", "-h", host, "-p", strconv.Itoa(port), "-U", "postgres", "-d", "postgres", "-Atc", sql}
	if as != "" {
		if os.Geteuid() != 0 {
			t.Skip("runs psql as another user, which needs root")
		}
		if _, err := user.Lookup(as); err != nil {
			t.Skipf("no user %s", as)
		}
		args = append([]string{"runuser", "-u", as, "--"}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	return string(out), err
}
