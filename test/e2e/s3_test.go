package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/narinfo/signature"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/binarycache/s3test"
	"buildledger/domain/status"
)

// TestS3StoppedMidUpload stops a real MinIO while the worker uploads the
// second part of a build's 12 MB NAR: the step is Aborted and retried.
// Once MinIO is back the build succeeds, every narinfo in the bucket has
// its NAR, and Nix copies the output from the bucket read as a plain
// HTTP cache, with the cache's key trusted.
func TestS3StoppedMidUpload(t *testing.T) {
	e := newHarness(t, harnessOptions{})
	e.seed("s3.nix")
	e.registerMachine("localhost", localhostMachine())
	srv := s3test.Start(t)
	srv.Bucket(t, "cache")
	sk, pk, err := binarycache.GenerateKey("e2e-s3-1")
	require.NoError(t, err)
	d, err := binarycache.ParseDestination("s3://cache?endpoint=http://" + srv.Endpoint +
		"&region=us-east-1&compression=zstd&write-nar-listing=1&multipart-chunk-size=5242880")
	require.NoError(t, err)
	dest, err := binarycache.OpenDestination(d, binarycache.OpenOptions{SecretKeys: []signature.SecretKey{sk}, SpoolDir: e.spool, Logger: e.log})
	require.NoError(t, err)
	var once sync.Once
	stopped := make(chan struct{})
	srv.OnRequest(func(r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/nar/") && r.URL.Query().Get("partNumber") == "2" {
			once.Do(func() { srv.Stop(); close(stopped) })
		}
	})
	e.startQueue(queueOptions{cache: dest})
	e.evaluate()

	select {
	case <-stopped:
	case <-time.After(3 * time.Minute):
		t.Fatal("the worker never uploaded a second part")
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(e.queryStrings(`select error_msg from step_attempts where status = $1`, int(status.Aborted))) == 0 {
		require.True(t, time.Now().Before(deadline), "the step was not aborted after MinIO stopped")
		time.Sleep(100 * time.Millisecond)
	}
	msgs := e.queryStrings(`select error_msg from step_attempts where status = $1`, int(status.Aborted))
	require.Contains(t, msgs[0], "upload outputs to s3://cache")
	srv.Restart()

	e.waitBuilds(1, 5*time.Minute)
	require.Equal(t, []string{"0"}, e.queryStrings(`select buildstatus::text from builds`), "the retried step uploads and the build succeeds")
	attempts := e.queryStrings(`select status::text from step_attempts order by attempt`)
	require.GreaterOrEqual(t, len(attempts), 2, "the aborted step was tried again: %v", attempts)

	objects := srv.Objects(t, "cache")
	for _, k := range objects {
		if !strings.HasSuffix(k, ".narinfo") {
			continue
		}
		code, body, _ := get(t, http.DefaultClient, srv.URL+"/cache/"+k, "")
		require.Equal(t, http.StatusOK, code, k)
		var nar string
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, "URL: "); ok {
				nar = v
			}
		}
		require.True(t, slices.Contains(objects, nar), "%s names %q, which is not in the bucket", k, nar)
	}
	outs := e.outputs()
	require.Len(t, outs, 1)
	fresh := filepath.Join(t.TempDir(), "fresh")
	out, err := nixCommand(e.ctx, t, "copy", "--from", srv.URL+"/cache", "--to", fresh,
		"--option", "require-sigs", "true", "--option", "trusted-public-keys", pk.String(), "--option", "substituters", "", outs[0])
	require.NoError(t, err, out)
	st, err := os.Stat(filepath.Join(fresh, outs[0]))
	require.NoError(t, err)
	require.Equal(t, int64(12000000), st.Size())
}

// nixCommand runs nix with its user cache in a scratch directory.
func nixCommand(ctx context.Context, t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "nix", append([]string{"--extra-experimental-features", "nix-command"}, args...)...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}
