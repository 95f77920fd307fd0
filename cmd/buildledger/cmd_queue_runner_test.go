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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache/s3test"
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

// cacheRun is a database and home with the jobset of cacheJob evaluated
// and the localhost builder registered: run runs a command there, and
// outPath is the job's output.
type cacheRun struct {
	run     func(ctx context.Context, args ...string) (string, int)
	home    string
	outPath string
	drvPath string
}

func newCacheRun(t *testing.T) cacheRun {
	t.Helper()
	for _, tool := range []string{"nix-store", "nix-instantiate"} {
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
	js, err := exec.Command("nix-instantiate", "--eval", "--json", "--strict", "--read-write-mode", "--expr",
		fmt.Sprintf("let j = (import %s { nonce = %q; }).hello; in [ j.outPath j.drvPath ]", filepath.Join(src, "job.nix"), nonce)).Output()
	require.NoError(t, err)
	var paths []string
	require.NoError(t, json.Unmarshal(js, &paths))
	return cacheRun{run: run, home: home, outPath: paths[0], drvPath: paths[1]}
}

// queueRunnerUntil runs "queue-runner --cache cache" until done reports
// true, then stops it; it fails the test if the runner exits first or
// done stays false for two minutes.
func (c cacheRun) queueRunnerUntil(t *testing.T, cache string, done func() bool) {
	t.Helper()
	qctx, stop := context.WithCancel(context.Background())
	type result struct {
		out  string
		code int
	}
	exited := make(chan result, 1)
	go func() {
		out, code := c.run(qctx, "queue-runner", "--bus", "gochannel", "--status-listen", "", "--cache", cache)
		exited <- result{out, code}
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for !done() {
		select {
		case r := <-exited:
			t.Fatalf("queue-runner exited with %d before the output was uploaded: %s", r.code, r.out)
		default:
		}
		require.True(t, time.Now().Before(deadline), "%s did not arrive in %s", c.outPath, cache)
		time.Sleep(200 * time.Millisecond)
	}
	stop()
	r := <-exited
	require.Equal(t, 0, r.code, r.out)
}

// TestCacheFlagSSH runs "queue-runner --cache ssh://…" against a real
// sshd: the job's output, built on the localhost builder, ends up valid
// in the remote store.
func TestCacheFlagSSH(t *testing.T) {
	if _, err := exec.LookPath("/usr/sbin/sshd"); err != nil {
		t.Skipf("sshd is not installed: %v", err)
	}
	c := newCacheRun(t)
	outPath := c.outPath
	// Not t.TempDir, which fails the test when it cannot remove it: a
	// session's nix-store may still be writing its temporary roots there
	// after sshd stopped. Registered before sshd, so that it runs after
	// sshd's cleanup (cleanups run last first), retrying while the
	// sessions exit.
	base, err := os.MkdirTemp("", "TestCacheFlagSSH")
	require.NoError(t, err)
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(base) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("%s left behind: %v", base, os.RemoveAll(base))
	})
	remote := filepath.Join(base, "remote")
	srv := sshdtest.Start(t, sshdtest.Options{Env: map[string]string{"PATH": "/usr/bin:/bin"}})
	cache := srv.URI() + "?ssh-key=" + srv.ClientKeyPath + "&base64-ssh-public-host-key=" + srv.HostPublicKey + "&remote-store=" + remote
	c.queueRunnerUntil(t, cache, func() bool {
		return exec.Command("nix-store", "--store", remote, "--check-validity", outPath).Run() == nil
	})
	b, err := os.ReadFile(filepath.Join(remote, outPath))
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(b))
}

// TestCacheFlagBad: a --cache URL that cannot be used is a clear error
// and a non-zero exit, before anything starts.
func TestCacheFlagBad(t *testing.T) {
	tests := []struct {
		cmd, cache, want string
	}{
		{"queue-runner", "gs://bucket", `unsupported scheme "gs"`},
		{"queue-runner", "s3://bucket?aws-secret-access-key=x", `unknown parameter "aws-secret-access-key"`},
		{"queue-runner", "s3://AKIA:secret@bucket", "want s3://BUCKET"},
		{"up", "s3://bucket?secret-key=/k1 --cache-secret-key-file /k2", "give the signing key once"},
		{"up", "ftp://host/dir", `unsupported scheme "ftp"`},
		{"queue-runner", "ssh://host", "needs ?ssh-key=FILE"},
		{"up", "file://relative", "want file:///ABSOLUTE/DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd+" "+tt.cache, func(t *testing.T) {
			var out, errb bytes.Buffer
			cache, extra, _ := strings.Cut(tt.cache, " ")
			args := append([]string{tt.cmd, "--cache", cache}, strings.Fields(extra)...)
			code := newApp(&out, &errb).main(context.Background(), append(args,
				"--home", t.TempDir(), "--database-url", "postgres://nobody@127.0.0.1:1/none"))
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

// TestCacheFlagS3 runs "queue-runner --cache s3://…" with the parameters
// of the issue against a real MinIO: the output, its listing and its log
// arrive, no object is written twice, and Nix copies the output from the
// bucket read as a plain HTTP cache with HOME/cache-key.pub trusted.
func TestCacheFlagS3(t *testing.T) {
	c := newCacheRun(t)
	srv := s3test.Start(t)
	srv.Bucket(t, "cache")
	var mu sync.Mutex
	written := map[string]int{}
	srv.OnRequest(func(r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			defer mu.Unlock()
			written[r.URL.Path]++
		}
	})
	bucket := srv.URL + "/cache"
	present := func(key string) bool {
		resp, err := http.Head(bucket + "/" + key)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	hp := filepath.Base(c.outPath)[:32]
	cache := "s3://cache?endpoint=http://" + srv.Endpoint + "&region=us-east-1&compression=zstd&write-nar-listing=1"
	c.queueRunnerUntil(t, cache, func() bool {
		return present(hp+".narinfo") && present("log/"+filepath.Base(c.drvPath))
	})
	require.True(t, present("nix-cache-info"))
	require.True(t, present(hp+".ls"), "write-nar-listing=1 writes the listing")
	mu.Lock()
	for key, n := range written {
		require.Equal(t, 1, n, "%s written %d times", key, n)
	}
	mu.Unlock()

	pub, err := os.ReadFile(filepath.Join(c.home, "cache-key.pub"))
	require.NoError(t, err)
	fresh := filepath.Join(t.TempDir(), "store")
	nix := func(args ...string) string {
		cmd := exec.Command("nix", append([]string{"--extra-experimental-features", "nix-command"}, args...)...)
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "nix %v: %s", args, out)
		return string(out)
	}
	nix("copy", "--from", bucket, "--to", fresh, "--option", "require-sigs", "true",
		"--option", "trusted-public-keys", string(pub), "--option", "substituters", "", c.outPath)
	b, err := os.ReadFile(filepath.Join(fresh, c.outPath))
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(b))
}
