package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSmokeBinary builds the buildledger binary and runs "buildledger up"
// in a fresh home: it becomes healthy, serves metrics, HTML and the login
// API, and on SIGTERM exits 0 after stopping its private Postgres cluster.
func TestSmokeBinary(t *testing.T) {
	requireTools(t, "nix-store", "nix-instantiate")
	t.Parallel()
	u := startUp(t, "BUILDLEDGER_ADMIN_PASSWORD=smoke-test-password")
	home, addr, base := u.home, u.addr, u.base
	roots := filepath.Join(home, "gcroots")
	client := &http.Client{Timeout: 10 * time.Second}
	u.waitHealthy(t, client)

	code, body, hdr := get(t, client, base+"/metrics", "")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "buildledger_projector_events_applied_total")
	require.Contains(t, body, "\nbuildledger_")

	code, body, hdr = get(t, client, base+"/", "text/html")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, hdr.Get("Content-Type"), "text/html")
	require.Contains(t, strings.ToLower(body), "<html")

	// Log in with the JSON API, once the projector has applied the log
	// (the admin user is in the read models): lag 0 in the metrics.
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body, _ := get(t, client, base+"/metrics", "")
		if strings.Contains(body, "\nbuildledger_projector_lag_events 0\n") {
			break
		}
		require.True(t, time.Now().Before(deadline), "the projector did not catch up:\n%s", body)
		time.Sleep(200 * time.Millisecond)
	}
	res := postLogin(t, client, base, "smoke-test-password")
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusFound, res.StatusCode, "login: %s", b)
	var user struct {
		UserName  string   `json:"username"`
		UserRoles []string `json:"userroles"`
	}
	require.NoError(t, json.Unmarshal(b, &user), "login answer: %s", b)
	require.Equal(t, "admin", user.UserName)
	require.Contains(t, user.UserRoles, "admin")
	require.NotEmpty(t, res.Header.Get("Set-Cookie"), "a session cookie")

	// The GC roots keeper ran (nothing is built yet, so it holds no root).
	require.DirExists(t, roots)

	// A wrong password is refused.
	res = postLogin(t, client, base, "wrong")
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode)

	// SIGTERM: a clean exit, and the private cluster is stopped.
	pidFile := filepath.Join(home, "postgres", "postmaster.pid")
	pm, err := os.ReadFile(pidFile)
	require.NoError(t, err, "the private cluster runs in the home")
	pgPid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(pm), "\n", 2)[0]))
	require.NoError(t, err)
	require.True(t, alive(pgPid), "postmaster %d runs", pgPid)

	u.stop(t)
	require.NoFileExists(t, pidFile, "postmaster.pid removed: the cluster stopped")
	// The postmaster removes its pid file on its way out (pg_ctl stop -w
	// waits for that) and exits a moment later, once it has released its
	// shared memory.
	require.Eventually(t, func() bool { return !alive(pgPid) }, 10*time.Second, 20*time.Millisecond,
		"postmaster %d stopped", pgPid)
	require.Contains(t, u.stdout.String(), "buildledger is up: http://"+addr+"\nlog in as admin with the password from BUILDLEDGER_ADMIN_PASSWORD\n")
}

// postLogin posts the admin's login as JSON from the site's own origin
// and returns the answer itself: a 302 to /current-user, as Hydra's.
func postLogin(t *testing.T, c *http.Client, base, password string) *http.Response {
	t.Helper()
	nc := *c
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c = &nc
	body, err := json.Marshal(map[string]string{"username": "admin", "password": password})
	require.NoError(t, err)
	req, err := http.NewRequest("POST", base+"/login", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", base)
	res, err := c.Do(req)
	require.NoError(t, err)
	return res
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// get fetches url with an Accept header (none if empty).
func get(t *testing.T, c *http.Client, url, accept string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b), res.Header
}

// alive reports whether process pid exists (and is not a zombie).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(f) == 0 || f[0] != "Z"
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// TestPrivateOpsEndpoints: with --private, /metrics, /queue-runner-status
// and /healthz answer only signed-in users, as every page does; they name
// machines, jobsets and running derivations.
func TestPrivateOpsEndpoints(t *testing.T) {
	requireTools(t, "nix-store", "nix-instantiate")
	t.Parallel()
	u := startUp(t, "BUILDLEDGER_PRIVATE=1", "BUILDLEDGER_ADMIN_PASSWORD=ops-test-password")
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(u.stdout.String(), "buildledger is up") {
		require.True(t, time.Now().Before(deadline), "up did not start: %s", u.stdout.String())
		time.Sleep(200 * time.Millisecond)
	}
	ops := []string{"/metrics", "/queue-runner-status", "/healthz"}
	for _, p := range ops {
		code, body, _ := get(t, client, u.base+p, "application/json")
		require.Equal(t, http.StatusForbidden, code, "%s anonymous: %s", p, body)
	}
	var res *http.Response
	require.Eventually(t, func() bool {
		res = postLogin(t, client, u.base, "ops-test-password")
		res.Body.Close()
		return res.StatusCode == http.StatusFound
	}, time.Minute, 200*time.Millisecond, "admin logs in once the projector has the user")
	for _, p := range ops {
		req, err := http.NewRequest("GET", u.base+p, nil)
		require.NoError(t, err)
		for _, c := range res.Cookies() {
			req.AddCookie(c)
		}
		got, err := client.Do(req)
		require.NoError(t, err)
		got.Body.Close()
		require.Equal(t, http.StatusOK, got.StatusCode, "%s signed in", p)
	}
}
