package ssh_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/ssh"
	"buildledger/adapters/ssh/sshdtest"
)

// starters returns one way per Conn implementation to start a shell script.
func starters(t *testing.T) map[string]func(ctx context.Context, script string) (ssh.Conn, error) {
	srv := sshdtest.Start(t, sshdtest.Options{})
	c := dial(t, pinned(srv))
	return map[string]func(ctx context.Context, script string) (ssh.Conn, error){
		"ssh": func(ctx context.Context, script string) (ssh.Conn, error) {
			return c.Run(ctx, script)
		},
		"local": func(ctx context.Context, script string) (ssh.Conn, error) {
			return ssh.Local(ctx, "/bin/sh", "-c", script)
		},
	}
}

func TestConnCommands(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		script     string
		stdout     string
		stderr     string
		code       int
		signal     string
		errLastMsg string
	}{
		{name: "echo", script: "echo hello", stdout: "hello\n"},
		{name: "exit code", script: "echo out; echo bad thing >&2; exit 3", stdout: "out\n", stderr: "bad thing\n", code: 3, errLastMsg: "exit status 3: bad thing"},
		{name: "signal", script: "kill -9 $$", code: 137, signal: "KILL", errLastMsg: "killed by signal KILL"},
	}
	for kind, start := range starters(t) {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				conn, err := start(context.Background(), tc.script)
				require.NoError(t, err)
				defer conn.Close()
				require.NoError(t, conn.CloseWrite())
				out, err := io.ReadAll(conn)
				require.NoError(t, err)
				require.Equal(t, tc.stdout, string(out))
				err = waitWithin(t, 10*time.Second, conn.Wait)
				require.Equal(t, tc.stderr, conn.Stderr())
				if tc.code == 0 {
					require.NoError(t, err)
					return
				}
				var exit *ssh.ExitError
				require.ErrorAs(t, err, &exit)
				require.Equal(t, tc.code, exit.Code)
				require.Equal(t, tc.signal, exit.Signal)
				require.Equal(t, tc.stderr, exit.Stderr)
				require.EqualError(t, err, tc.errLastMsg)
				require.False(t, errors.Is(err, ssh.ErrDisconnected))
			})
		}
	}
}

func TestConnPipesStdinToStdout(t *testing.T) {
	t.Parallel()
	payload := make([]byte, 3<<20)
	_, err := rand.Read(payload)
	require.NoError(t, err)
	for kind, start := range starters(t) {
		t.Run(kind, func(t *testing.T) {
			conn, err := start(context.Background(), "cat")
			require.NoError(t, err)
			defer conn.Close()
			writeErr := make(chan error, 1)
			go func() {
				_, err := io.Copy(conn, bytes.NewReader(payload))
				if err == nil {
					err = conn.CloseWrite()
				}
				writeErr <- err
			}()
			got, err := io.ReadAll(conn)
			require.NoError(t, err)
			require.NoError(t, <-writeErr)
			require.True(t, bytes.Equal(payload, got), "echoed %d bytes, sent %d", len(got), len(payload))
			require.NoError(t, waitWithin(t, 10*time.Second, conn.Wait))
		})
	}
}

func TestConnStderrKeepsTail(t *testing.T) {
	t.Parallel()
	// 200 kB of noise, then a marker: only the last 64 KiB are kept.
	script := `i=0; while [ $i -lt 2000 ]; do echo 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456 >&2; i=$((i+1)); done; echo THE-END >&2`
	for kind, start := range starters(t) {
		t.Run(kind, func(t *testing.T) {
			conn, err := start(context.Background(), script)
			require.NoError(t, err)
			defer conn.Close()
			_, err = io.ReadAll(conn)
			require.NoError(t, err)
			require.NoError(t, waitWithin(t, 10*time.Second, conn.Wait))
			require.Len(t, conn.Stderr(), ssh.StderrLimit)
			require.True(t, strings.HasSuffix(conn.Stderr(), "0123456\nTHE-END\n"))
		})
	}
}

func TestConnContextCancelKills(t *testing.T) {
	t.Parallel()
	for kind, start := range starters(t) {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			conn, err := start(ctx, "echo started; exec sleep 300")
			require.NoError(t, err)
			defer conn.Close()
			line := make([]byte, len("started\n"))
			_, err = io.ReadFull(conn, line)
			require.NoError(t, err)
			// A reader blocked on the silent command must be released.
			readErr := make(chan error, 1)
			go func() {
				_, err := conn.Read(make([]byte, 1))
				readErr <- err
			}()
			cancel()
			err = waitWithin(t, 5*time.Second, conn.Wait)
			require.ErrorIs(t, err, context.Canceled)
			select {
			case err := <-readErr:
				require.Error(t, err)
			case <-time.After(5 * time.Second):
				t.Fatal("Read still blocked after cancel")
			}
		})
	}
}

func TestConnCloseStopsCommand(t *testing.T) {
	t.Parallel()
	for kind, start := range starters(t) {
		t.Run(kind, func(t *testing.T) {
			conn, err := start(context.Background(), "exec sleep 300")
			require.NoError(t, err)
			done := make(chan struct{})
			go func() {
				_ = conn.Close()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Close did not return")
			}
			require.Error(t, waitWithin(t, 5*time.Second, conn.Wait))
		})
	}
}
