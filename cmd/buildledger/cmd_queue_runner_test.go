package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/adapters/ssh/sshdtest"
)

// cacheJob is a jobset of one trivial job; nonce makes its output new.
const cacheJob = `{ nonce }: {
  hello = derivation {
    name = "cache-hello";
    inherit nonce;
    system = builtins.currentSystem;
    builder = "` + nixtest.Sh + `";
    args = [ "sh" "-c" "echo hello > $out" ];
  };
}
`

// TestCacheFlagSSH runs "queue-runner --cache ssh://…" against a real
// sshd: the job's output, built on the localhost builder, ends up valid
// in the remote store.
func TestCacheFlagSSH(t *testing.T) {
	for _, tool := range []string{"nix-store", "nix-instantiate", "/usr/sbin/sshd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	url := pgtest.URL(t)
	home := t.TempDir()
	run := func(ctx context.Context, args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := newApp(&out, &errb).main(ctx, append(args, "--database-url", url, "--home", home))
		return out.String() + errb.String(), code
	}
	ctx := context.Background()
	src := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "job.nix"), []byte(cacheJob), 0o644))
	nonce := fmt.Sprint(time.Now().UnixNano())
	pw := filepath.Join(t.TempDir(), "pw")
	require.NoError(t, os.WriteFile(pw, []byte("a-password\n"), 0o600))
	for _, args := range [][]string{
		{"user", "create", "admin", "--role", "admin", "--password-file", pw},
		{"project", "create", "p", "--owner", "admin"},
		{"jobset", "create", "p", "j", "--nixexprinput", "src", "--nixexprpath", "job.nix", "--check-interval", "0",
			"--input", "src=path:" + src, "--input", "nonce=string:" + nonce},
		{"machine", "add", "localhost", "--systems", hostSystem() + ",builtin", "--max-jobs", "2"},
		{"eval", "p", "j", "--input-root", src, "--eval-allowed-path", nixtest.BusyboxDir()},
	} {
		out, code := run(ctx, args...)
		require.Equal(t, 0, code, "%v: %s", args, out)
	}
	js, err := exec.Command("nix-instantiate", "--eval", "--json", "--expr",
		fmt.Sprintf("(import %s { nonce = %q; }).hello.outPath", filepath.Join(src, "job.nix"), nonce)).Output()
	require.NoError(t, err)
	var outPath string
	require.NoError(t, json.Unmarshal(js, &outPath))

	// Before sshd, so that it is removed after sshd and its sessions
	// (cleanups run last first): a session's nix-store may still be
	// writing there when the test ends.
	remote := filepath.Join(t.TempDir(), "remote")
	srv := sshdtest.Start(t, sshdtest.Options{Env: map[string]string{"PATH": "/usr/bin:/bin"}})
	cache := srv.URI() + "?ssh-key=" + srv.ClientKeyPath + "&base64-ssh-public-host-key=" + srv.HostPublicKey + "&remote-store=" + remote
	qctx, stop := context.WithCancel(ctx)
	type result struct {
		out  string
		code int
	}
	done := make(chan result, 1)
	go func() {
		out, code := run(qctx, "queue-runner", "--bus", "gochannel", "--status-listen", "", "--cache", cache)
		done <- result{out, code}
	}()
	valid := func() bool {
		return exec.Command("nix-store", "--store", remote, "--check-validity", outPath).Run() == nil
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !valid() {
		select {
		case r := <-done:
			t.Fatalf("queue-runner exited with %d before the output was uploaded: %s", r.code, r.out)
		default:
		}
		require.True(t, time.Now().Before(deadline), "%s is not valid in the ssh:// destination's store", outPath)
		time.Sleep(200 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(remote, outPath))
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(b))
	stop()
	r := <-done
	require.Equal(t, 0, r.code, r.out)
}

// TestCacheFlagBad: a --cache URL that cannot be used is a clear error
// and a non-zero exit, before anything starts.
func TestCacheFlagBad(t *testing.T) {
	tests := []struct {
		cmd, cache, want string
	}{
		{"queue-runner", "s3://bucket", `unsupported scheme "s3"`},
		{"up", "ftp://host/dir", `unsupported scheme "ftp"`},
		{"queue-runner", "ssh://host", "needs ?ssh-key=FILE"},
		{"up", "file://relative", "want file:///ABSOLUTE/DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd+" "+tt.cache, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := newApp(&out, &errb).main(context.Background(), []string{tt.cmd, "--cache", tt.cache,
				"--home", t.TempDir(), "--database-url", "postgres://nobody@127.0.0.1:1/none"})
			require.NotEqual(t, 0, code)
			require.Contains(t, errb.String(), "--cache")
			require.Contains(t, errb.String(), tt.want)
		})
	}
}

// TestQueueRunnerSnapshot: queue-runner saves a snapshot of the
// scheduler's model when it stops, covering the whole log, and the next
// start reads it and folds only what came after.
func TestQueueRunnerSnapshot(t *testing.T) {
	url := pgtest.URL(t)
	home := t.TempDir()
	ctx := context.Background()
	run := func(ctx context.Context, args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := newApp(&out, &errb).main(ctx, append(args, "--database-url", url, "--home", home))
		return out.String() + errb.String(), code
	}
	for _, args := range [][]string{
		{"machine", "add", "b1", "--systems", "x86_64-linux", "--max-jobs", "2"},
		{"machine", "add", "b2", "--systems", "aarch64-linux", "--max-jobs", "1"},
	} {
		out, code := run(ctx, args...)
		require.Equal(t, 0, code, "%v: %s", args, out)
	}
	pool, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	defer pool.Close()
	head := func() int64 {
		var n int64
		require.NoError(t, pool.QueryRow(ctx, `select coalesce(max(position), 0) from ledger.events`).Scan(&n))
		return n
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	start := func() (stop func() string) {
		qctx, cancel := context.WithCancel(ctx)
		done := make(chan string, 1)
		go func() {
			out, code := run(qctx, "queue-runner", "--bus", "gochannel", "--status-listen", addr)
			done <- fmt.Sprintf("exit %d: %s", code, out)
		}()
		caughtUp := func() bool {
			resp, err := http.Get("http://" + addr + "/queue-runner-status")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			var st struct {
				CaughtUp bool `json:"caughtUp"`
			}
			return json.NewDecoder(resp.Body).Decode(&st) == nil && st.CaughtUp
		}
		require.Eventually(t, caughtUp, 2*time.Minute, 50*time.Millisecond)
		return func() string {
			cancel()
			return <-done
		}
	}
	out := start()()
	require.Contains(t, out, "exit 0")
	require.Contains(t, out, "no snapshot; folding the whole log")
	var pos int64
	require.NoError(t, pool.QueryRow(ctx, `select position_commit from commandstate.reactor_snapshots where name = 'scheduler'`).Scan(&pos))
	require.Equal(t, head(), pos, "the snapshot saved at the stop covers the log")

	o, code := run(ctx, "machine", "add", "b3", "--systems", "x86_64-linux")
	require.Equal(t, 0, code, o)
	out = start()()
	require.Contains(t, out, "exit 0")
	require.Contains(t, out, "model read from its snapshot")
	require.Contains(t, out, "scheduler caught up\" events=1", "only the event after the snapshot is folded")
}
