package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	bin := filepath.Join(t.TempDir(), "buildledger")
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/buildledger")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	// The private cluster runs as the postgres user when the test runs as
	// root, so the home must be reachable for it.
	home := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(home), 0o755))
	require.NoError(t, os.Chmod(home, 0o755))
	addr := freeAddr(t)
	base := "http://" + addr

	var stdout, stderr bytes.Buffer
	roots := filepath.Join(home, "gcroots")
	up := exec.Command(bin, "up", "--home", home, "--listen", addr, "--gc-roots", roots)
	up.Env = append(os.Environ(), "BUILDLEDGER_ADMIN_PASSWORD=smoke-test-password", "BUILDLEDGER_EVENTSTORE=", "BUILDLEDGER_DATABASE_URL=")
	up.Stdout, up.Stderr = &stdout, &stderr
	require.NoError(t, up.Start())
	exited := make(chan error, 1)
	go func() { exited <- up.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = up.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				_ = up.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("buildledger up stdout:\n%s\nstderr (tail):\n%s", stdout.String(), tail(stderr.String(), 4000))
		}
	})

	// Healthy within the deadline (initdb, migrations, first start).
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res, err := client.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("buildledger up exited before it was healthy: %v", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "/healthz not 200 in time (last error %v)", err)
		time.Sleep(200 * time.Millisecond)
	}

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
	deadline = time.Now().Add(60 * time.Second)
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
	require.Equal(t, http.StatusOK, res.StatusCode, "login: %s", b)
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

	require.NoError(t, up.Process.Signal(syscall.SIGTERM))
	stopped = true
	select {
	case err := <-exited:
		require.NoError(t, err, "buildledger up exits 0 on SIGTERM")
	case <-time.After(90 * time.Second):
		_ = up.Process.Kill()
		t.Fatal("buildledger up did not exit within 90 s of SIGTERM")
	}
	require.NoFileExists(t, pidFile, "postmaster.pid removed: the cluster stopped")
	// The postmaster removes its pid file on its way out (pg_ctl stop -w
	// waits for that) and exits a moment later, once it has released its
	// shared memory.
	require.Eventually(t, func() bool { return !alive(pgPid) }, 10*time.Second, 20*time.Millisecond,
		"postmaster %d stopped", pgPid)
	require.Contains(t, stdout.String(), "buildledger is up: http://"+addr)
}

// postLogin posts the admin's login as JSON from the site's own origin.
func postLogin(t *testing.T, c *http.Client, base, password string) *http.Response {
	t.Helper()
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
