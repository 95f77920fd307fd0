package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildBinary builds the buildledger binary into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "buildledger")
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/buildledger")
	build.Dir = repoRoot(t)
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// repoRoot is the repository's top directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// upProcess is "buildledger up" running in a fresh home, stopped with
// SIGTERM when the test ends.
type upProcess struct {
	bin, home, addr, base string
	cmd                   *exec.Cmd
	stdout, stderr        lockedBuffer
	exited                chan error
	stopped               bool
}

// startUp builds the binary and starts "up" in a fresh home on a free
// loopback port, with env added to the test's environment; its GC roots go
// under the home.
func startUp(t *testing.T, env ...string) *upProcess {
	t.Helper()
	return startUpWith(t, nil, env...)
}

// startUpWith is startUp with further flags for up.
func startUpWith(t *testing.T, flags []string, env ...string) *upProcess {
	t.Helper()
	// The private cluster runs as the postgres user when the test runs as
	// root, so the home must be reachable for it.
	home := t.TempDir()
	require.NoError(t, os.Chmod(filepath.Dir(home), 0o755))
	require.NoError(t, os.Chmod(home, 0o755))
	return startUpIn(t, home, flags, env...)
}

// startUpIn is startUpWith in a given home: a restart of up on the same
// ledger.
func startUpIn(t *testing.T, home string, flags []string, env ...string) *upProcess {
	t.Helper()
	u := &upProcess{bin: buildBinary(t), home: home, addr: freeAddr(t), exited: make(chan error, 1)}
	u.base = "http://" + u.addr
	u.cmd = exec.Command(u.bin, append([]string{"up", "--home", home, "--listen", u.addr, "--gc-roots", filepath.Join(home, "gcroots")}, flags...)...)
	u.cmd.Env = append(append(os.Environ(), "BUILDLEDGER_EVENTSTORE=", "BUILDLEDGER_DATABASE_URL="), env...)
	u.cmd.Stdout, u.cmd.Stderr = &u.stdout, &u.stderr
	require.NoError(t, u.cmd.Start())
	go func() { u.exited <- u.cmd.Wait() }()
	t.Cleanup(func() {
		if !u.stopped {
			_ = u.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-u.exited:
			case <-time.After(30 * time.Second):
				_ = u.cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("buildledger up stdout:\n%s\nstderr (tail):\n%s", u.stdout.String(), tail(u.stderr.String(), 4000))
		}
	})
	return u
}

// waitHealthy waits until /healthz answers 200 (initdb, migrations, first
// start).
func (u *upProcess) waitHealthy(t *testing.T, client *http.Client) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		res, err := client.Get(u.base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-u.exited:
			t.Fatalf("buildledger up exited before it was healthy: %v", err)
		default:
		}
		require.True(t, time.Now().Before(deadline), "/healthz not 200 in time (last error %v)", err)
		time.Sleep(200 * time.Millisecond)
	}
}

// stop sends SIGTERM and requires a clean exit.
func (u *upProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, u.cmd.Process.Signal(syscall.SIGTERM))
	u.stopped = true
	select {
	case err := <-u.exited:
		require.NoError(t, err, "buildledger up exits 0 on SIGTERM")
	case <-time.After(90 * time.Second):
		_ = u.cmd.Process.Kill()
		t.Fatal("buildledger up did not exit within 90 s of SIGTERM")
	}
}
