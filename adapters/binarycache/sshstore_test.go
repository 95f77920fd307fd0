package binarycache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// localCommand is a RemoteCommand that runs the command with sh on this
// machine: a stand-in for the SSH session adapters/ssh provides, which
// these tests cannot dial.
func localCommand(ctx context.Context, command string) (io.ReadWriteCloser, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	return &localSession{cmd: cmd, stdin: stdin, stdout: pr, stdoutW: pw, stderr: &stderr}, nil
}

type localSession struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  *io.PipeReader
	stdoutW *io.PipeWriter
	stderr  *bytes.Buffer
}

func (s *localSession) Read(p []byte) (int, error)  { return s.stdout.Read(p) }
func (s *localSession) Write(p []byte) (int, error) { return s.stdin.Write(p) }
func (s *localSession) Close() error {
	s.stdin.Close()
	err := s.cmd.Wait()
	s.stdoutW.Close()
	if err != nil {
		return fmt.Errorf("%w: %s", err, s.stderr.String())
	}
	return nil
}

func TestSSHStoreImport(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	remote := filepath.Join(t.TempDir(), "remote")
	dest := NewSSHStore("ssh://test@localhost", localCommand, remote)
	require.Equal(t, "ssh://test@localhost", dest.URL())

	has, err := dest.Has(ctx, fx.top)
	require.NoError(t, err)
	require.False(t, has)

	ups, err := LocalStore{}.UploadClosure(ctx, dest, fx.top)
	require.NoError(t, err)
	require.Len(t, ups, 1)
	info, err := LocalStore{}.PathInfo(ctx, fx.top)
	require.NoError(t, err)
	require.Equal(t, info.NarHash, ups[0].NarHash)
	require.Equal(t, info.NarSize, ups[0].NarSize)
	require.Equal(t, []string{fx.dep}, ups[0].References)

	// The remote store holds the closure with the same metadata.
	remoteInfo, err := LocalStore{Store: remote}.PathInfo(ctx, fx.top)
	require.NoError(t, err)
	require.Equal(t, info, remoteInfo)
	requireCopied(t, remote, fx)
	runNix(t, "nix-store", "--store", remote, "--verify-path", fx.top)

	// A second put is a no-op returning the remote's metadata.
	fr := &failReader{}
	again, err := dest.Put(ctx, info, fr)
	require.NoError(t, err)
	require.False(t, fr.read)
	require.Equal(t, ups[0], again)
}

func TestSSHStoreErrors(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	remote := filepath.Join(t.TempDir(), "remote")
	dest := NewSSHStore("ssh://x", localCommand, remote)

	// Importing a path whose reference is missing on the remote fails.
	_, err := LocalStore{}.Upload(ctx, dest, fx.top)
	require.Error(t, err)
	// Garbage is not sent.
	_, err = dest.Put(ctx, PathInfo{StorePath: fx.dep}, bytes.NewReader(bytes.Repeat([]byte("x"), 64)))
	require.ErrorContains(t, err, "bad magic")
	// A broken remote command is an error, not "has the path".
	broken := NewSSHStore("ssh://x", func(ctx context.Context, _ string) (io.ReadWriteCloser, error) {
		return localCommand(ctx, "exit 3")
	}, "")
	_, err = broken.Has(ctx, fx.dep)
	require.Error(t, err)
	for _, p := range []string{fx.top, fx.dep} {
		has, err := dest.Has(ctx, p)
		require.NoError(t, err)
		require.False(t, has, "%s must not be valid on the remote", p)
	}
}
