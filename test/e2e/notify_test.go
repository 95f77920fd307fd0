package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hookReceiver is a webhook endpoint that fails its first request with
// 500 and records the evaluations it was told about.
type hookReceiver struct {
	mu       sync.Mutex
	requests int
	evals    []float64
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requests++
	if h.requests == 1 {
		http.Error(w, "down for a moment", http.StatusInternalServerError)
		return
	}
	var b struct {
		Eval float64 `json:"eval"`
	}
	_ = json.Unmarshal(body, &b)
	h.evals = append(h.evals, b.Eval)
}

func (h *hookReceiver) state() (int, []float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests, append([]float64(nil), h.evals...)
}

// TestNotificationSurvivesKillAndReplay: up is killed (SIGKILL) after a
// webhook notification was queued and its first attempt failed; the next
// up delivers it once; after `buildledger replay` and another start, the
// receiver hears only of the next evaluation failure, nothing again.
func TestNotificationSurvivesKillAndReplay(t *testing.T) {
	t.Parallel()
	recv := &hookReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	dir := t.TempDir()
	secret := filepath.Join(dir, "hook.secret")
	require.NoError(t, os.WriteFile(secret, []byte("e2e-secret\n"), 0o600))
	hooks := filepath.Join(dir, "hooks.json")
	require.NoError(t, os.WriteFile(hooks, []byte(`[{"project": "n", "url": "`+srv.URL+`/hook", "secretFile": "`+secret+`"}]`), 0o600))
	flags := []string{"--webhooks", hooks}
	env := "BUILDLEDGER_ADMIN_PASSWORD=notify-test-password"

	u := startUpWith(t, flags, env)
	client := &http.Client{Timeout: 10 * time.Second}
	u.waitHealthy(t, client)
	cli := func(args ...string) {
		t.Helper()
		cmd := exec.Command(u.bin, args...)
		cmd.Env = append(os.Environ(), "BUILDLEDGER_HOME="+u.home, "BUILDLEDGER_EVENTSTORE=", "BUILDLEDGER_DATABASE_URL=")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "buildledger %v: %s", args, out)
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for !ok() {
			require.True(t, time.Now().Before(deadline), "%s: not in time", what)
			time.Sleep(100 * time.Millisecond)
		}
	}
	attempts := func(base string) []struct {
		State    string            `json:"state"`
		Attempts []json.RawMessage `json:"attempts"`
	} {
		var ns []struct {
			State    string            `json:"state"`
			Attempts []json.RawMessage `json:"attempts"`
		}
		code, body, _ := get(t, client, base+"/jobset/n/main/notifications", "application/json")
		if code == http.StatusOK {
			require.NoError(t, json.Unmarshal([]byte(body), &ns), body)
		}
		return ns
	}

	// An input outside any --input-root fails the evaluation: the
	// webhook's eval_failed, with no Nix needed.
	cli("project", "create", "n", "--owner", "admin")
	cli("jobset", "create", "n", "main", "--type", "legacy", "--input", "src="+"path:"+filepath.Join(dir, "missing"),
		"--nixexprinput", "src", "--nixexprpath", "release.nix")
	waitFor("the first attempt failed and was recorded", func() bool {
		ns := attempts(u.base)
		return len(ns) == 1 && len(ns[0].Attempts) == 1
	})
	require.NoError(t, u.cmd.Process.Kill())
	u.stopped = true
	<-u.exited

	u2 := startUpIn(t, u.home, flags, env)
	u2.waitHealthy(t, client)
	waitFor("delivered after the restart", func() bool {
		ns := attempts(u2.base)
		return len(ns) == 1 && ns[0].State == "delivered"
	})
	n, evals := recv.state()
	require.Equal(t, 2, n, "one failed attempt, one delivery")
	require.Len(t, evals, 1)
	u2.stop(t)

	cli("replay")
	u3 := startUpIn(t, u.home, flags, env)
	u3.waitHealthy(t, client)
	// The evaluation fails again, as it should: eval exits 1.
	eval := exec.Command(u.bin, "eval", "n", "main")
	eval.Env = append(os.Environ(), "BUILDLEDGER_HOME="+u.home, "BUILDLEDGER_EVENTSTORE=", "BUILDLEDGER_DATABASE_URL=")
	out, err := eval.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "evaluation 2 of n:main: failed")
	waitFor("the next failure is delivered", func() bool { _, evals := recv.state(); return len(evals) >= 2 })
	n, evals = recv.state()
	require.Equal(t, 3, n, "a replay and two restarts sent nothing again")
	require.NotEqual(t, evals[0], evals[1], "the third request is of the new evaluation")
}
