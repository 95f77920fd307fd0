package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
)

// TestSplitServer runs the documented split processes on one database: a
// queue runner with its status listener, and two web servers. The one
// given --queue-runner-endpoint answers /queue-runner-status with the
// queue runner's status, the other {"status":"unknown"}, as Hydra's web
// does without queue_runner_endpoint; both serve the same read models.
func TestSplitServer(t *testing.T) {
	requireTools(t, "nix-store")
	t.Parallel()
	bin := buildBinary(t)
	url := pgtest.URL(t)
	statusAddr := freeAddr(t)
	start := func(args ...string) *lockedBuffer {
		var out lockedBuffer
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "BUILDLEDGER_EVENTSTORE=", "BUILDLEDGER_DATABASE_URL=")
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
			}
			if t.Failed() {
				t.Logf("%s:\n%s", strings.Join(args[:1], " "), tail(out.String(), 4000))
			}
		})
		return &out
	}
	home := t.TempDir()
	_, err := exec.Command(bin, "migrate", "--home", home, "--database-url", url).CombinedOutput()
	require.NoError(t, err)
	start("queue-runner", "--home", home, "--database-url", url, "--bus", "postgres", "--status-listen", statusAddr)
	withRunner, plain := freeAddr(t), freeAddr(t)
	start("server", "--home", home, "--database-url", url, "--listen", withRunner, "--queue-runner-endpoint", "http://"+statusAddr)
	start("server", "--home", home, "--database-url", url, "--listen", plain)

	client := &http.Client{Timeout: 10 * time.Second}
	status := func(addr string) map[string]any {
		var body map[string]any
		require.Eventually(t, func() bool {
			res, err := client.Get("http://" + addr + "/queue-runner-status")
			if err != nil {
				return false
			}
			defer res.Body.Close()
			body = nil
			return res.StatusCode == http.StatusOK && json.NewDecoder(res.Body).Decode(&body) == nil && body["status"] != "unreachable"
		}, 2*time.Minute, 200*time.Millisecond, "/queue-runner-status of %s", addr)
		return body
	}
	require.Equal(t, map[string]any{"status": "unknown"}, status(plain))
	fromRunner := status(withRunner)
	require.Equal(t, "up", fromRunner["status"], "the queue runner's own status: %v", fromRunner)
	require.Contains(t, fromRunner, "machines")

	for _, addr := range []string{withRunner, plain} {
		code, body, _ := get(t, client, "http://"+addr+"/api/queue?nr=10", "application/json")
		require.Equal(t, http.StatusOK, code, body)
		require.JSONEq(t, `[]`, body)
	}
}
