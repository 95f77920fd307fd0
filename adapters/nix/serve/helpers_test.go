package serve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"buildledger/adapters/nix/drv"

	"github.com/stretchr/testify/require"
)

// storeArgs are the options every nix-store call in these tests gets: no
// substituters (there is no network).
var storeArgs = []string{"--option", "substituters", ""}

// server is a `nix-store --serve --write` child process speaking the
// protocol on its stdin/stdout.
type server struct {
	io.Reader
	io.WriteCloser
	cmd    *exec.Cmd
	stderr *syncBuffer
	// waited makes wait safe to call twice at once: a client's cancel
	// closes the session while the test's cleanup does.
	waited  sync.Once
	waitErr error
}

// Close ends the session and waits for the process (and its stderr copier).
func (s *server) Close() error {
	s.WriteCloser.Close()
	return s.wait()
}

// wait waits for the process once, whoever calls it first.
func (s *server) wait() error {
	s.waited.Do(func() { s.waitErr = s.cmd.Wait() })
	return s.waitErr
}

// syncBuffer is a bytes.Buffer safe for the stderr copier and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startServer runs nix-store --serve --write on storeURI ("" = /nix/store).
// Its stderr, the build logs, goes to s.stderr.
func startServer(t *testing.T, storeURI string) *server {
	t.Helper()
	var args []string
	if storeURI != "" {
		args = append(args, "--store", storeURI)
	}
	args = append(args, storeArgs...)
	args = append(args, "--serve", "--write")
	cmd := exec.Command("nix-store", args...)
	s := &server{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	var err error
	s.WriteCloser, err = cmd.StdinPipe()
	require.NoError(t, err)
	s.Reader, err = cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		s.WriteCloser.Close()
		done := make(chan struct{})
		go func() { _ = s.wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	return s
}

func connect(t *testing.T, s *server) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := NewClient(ctx, s)
	require.NoError(t, err, "stderr: %s", s.stderr.String())
	return c
}

func chrootURI(t *testing.T) string { return filepath.Join(t.TempDir(), "store") }

// mainStore is the machine's own store, without substituters.
var mainStore = drv.Store{Args: []string{"--option", "substituters", ""}}

func chrootStore(uri string) drv.Store {
	return drv.Store{URI: uri, Args: storeArgs}
}

// instantiate evaluates expr and returns the .drv path.
func instantiate(t *testing.T, expr string) string {
	t.Helper()
	out, err := exec.Command("nix-instantiate", "--expr", expr).Output()
	require.NoError(t, err, "nix-instantiate %s", expr)
	return strings.TrimSpace(string(out))
}

func nonce() string { return fmt.Sprintf("%d", time.Now().UnixNano()) }

// basic reads drvPath and resolves it into a BasicDerivation.
func basic(t *testing.T, drvPath string) (*drv.Derivation, BasicDerivation) {
	t.Helper()
	r := drv.NewReader("")
	d, err := r.Read(drvPath)
	require.NoError(t, err)
	in, err := r.InputPaths(d)
	require.NoError(t, err)
	return d, NewBasicDerivation(d, in)
}

// importInputs copies the input sources of bd (the builder's busybox
// among them) with their closure from the machine's store into the
// server's, as a builder does before BuildDerivation.
func importInputs(t *testing.T, c *Client, bd BasicDerivation) {
	t.Helper()
	ctx := context.Background()
	closure, err := mainStore.ClosureOf(ctx, bd.InputSrcs)
	require.NoError(t, err)
	require.NoError(t, c.ImportPaths(ctx, pathInfos(t, mainStore, closure), mainStore.DumpPath))
}

// pathInfos gathers what ImportPaths needs about local paths.
func pathInfos(t *testing.T, st drv.Store, paths []string) []PathInfo {
	t.Helper()
	ctx := context.Background()
	var infos []PathInfo
	for _, p := range paths {
		refs, err := st.QueryReferences(ctx, p)
		require.NoError(t, err)
		deriver, err := st.QueryDeriver(ctx, p)
		require.NoError(t, err)
		infos = append(infos, PathInfo{Path: p, References: refs, Deriver: deriver})
	}
	return infos
}
