package ssh_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"buildledger/adapters/ssh"
	"buildledger/adapters/ssh/sshdtest"
)

func TestDialHostKeyPolicies(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	other := sshdtest.Start(t, sshdtest.Options{})
	otherFP := gossh.FingerprintSHA256(other.HostKey)
	srvFP := gossh.FingerprintSHA256(srv.HostKey)
	emptyKnown := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(emptyKnown, []byte("# nobody\n"), 0o600))

	cases := []struct {
		name    string
		edit    func(*ssh.Target)
		wantErr []string // substrings; nil means success
		hostErr bool     // error is a *ssh.HostKeyError
	}{
		{name: "pinned wire base64", edit: func(*ssh.Target) {}},
		{name: "pinned authorized_keys line", edit: func(tg *ssh.Target) { tg.HostKey = srv.HostKeyLine() }},
		{name: "pinned nix machines column", edit: func(tg *ssh.Target) {
			tg.HostKey = base64.StdEncoding.EncodeToString([]byte(srv.HostKeyLine() + "\n"))
		}},
		{name: "known_hosts", edit: func(tg *ssh.Target) { tg.HostKey, tg.KnownHostsFile = "", srv.KnownHostsPath }},
		{
			name:    "wrong pinned key",
			edit:    func(tg *ssh.Target) { tg.HostKey = other.HostPublicKey },
			wantErr: []string{"host key mismatch for " + srv.Addr, srvFP, otherFP, "pinned host key"},
			hostErr: true,
		},
		{
			name: "known_hosts with another key for the host",
			edit: func(tg *ssh.Target) {
				bad := filepath.Join(t.TempDir(), "known_hosts")
				line := "[127.0.0.1]:" + strconv.Itoa(srv.Port) + " " + other.HostKeyLine() + "\n"
				require.NoError(t, os.WriteFile(bad, []byte(line), 0o600))
				tg.HostKey, tg.KnownHostsFile = "", bad
			},
			wantErr: []string{"host key mismatch for " + srv.Addr, srvFP, otherFP, "known_hosts"},
			hostErr: true,
		},
		{
			name:    "host missing from known_hosts",
			edit:    func(tg *ssh.Target) { tg.HostKey, tg.KnownHostsFile = "", emptyKnown },
			wantErr: []string{"host " + srv.Addr + " is unknown", emptyKnown, srvFP},
			hostErr: true,
		},
		{
			name:    "known_hosts file missing",
			edit:    func(tg *ssh.Target) { tg.HostKey, tg.KnownHostsFile = "", "/nonexistent/known_hosts" },
			wantErr: []string{"/nonexistent/known_hosts", "no such file"},
		},
		{
			name:    "no host key policy",
			edit:    func(tg *ssh.Target) { tg.HostKey = "" },
			wantErr: []string{"no host key policy"},
		},
		{
			name:    "both policies",
			edit:    func(tg *ssh.Target) { tg.KnownHostsFile = srv.KnownHostsPath },
			wantErr: []string{"choose one"},
		},
		{
			name:    "garbage pinned key",
			edit:    func(tg *ssh.Target) { tg.HostKey = "!!!" },
			wantErr: []string{"parse host key"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := pinned(srv)
			tc.edit(&tg)
			c, err := ssh.Dial(context.Background(), tg)
			if tc.wantErr == nil {
				require.NoError(t, err)
				defer c.Close()
				s, err := c.Run(context.Background(), "echo ok")
				require.NoError(t, err)
				out, err := io.ReadAll(s)
				require.NoError(t, err)
				require.NoError(t, s.Wait())
				require.Equal(t, "ok\n", string(out))
				return
			}
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.Contains(t, err.Error(), w)
			}
			var he *ssh.HostKeyError
			require.Equal(t, tc.hostErr, errors.As(err, &he), "HostKeyError? %v", err)
		})
	}
}

func TestDialErrors(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	garbageKey := filepath.Join(t.TempDir(), "garbage")
	require.NoError(t, os.WriteFile(garbageKey, []byte("not a key"), 0o600))
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		return addr
	}()

	cases := []struct {
		name    string
		edit    func(*ssh.Target)
		wantErr []string
	}{
		{"missing key file", func(tg *ssh.Target) { tg.KeyFile = "/nonexistent/id_ed25519" }, []string{"key file", "/nonexistent/id_ed25519"}},
		{"empty key file path", func(tg *ssh.Target) { tg.KeyFile = "" }, []string{"no key file"}},
		{"unparsable key file", func(tg *ssh.Target) { tg.KeyFile = garbageKey }, []string{"parse key file " + garbageKey}},
		{"unknown scheme", func(tg *ssh.Target) { tg.URI = "ssh-ng://root@" + srv.Addr }, []string{`unsupported scheme "ssh-ng"`}},
		{"no scheme", func(tg *ssh.Target) { tg.URI = "root@" + srv.Addr }, []string{"want ssh://"}},
		{"unreachable port", func(tg *ssh.Target) { tg.URI = "ssh://root@" + closedPort }, []string{"connection refused", closedPort}},
		{"unauthorized user", func(tg *ssh.Target) { tg.URI = "ssh://nobody-here@" + srv.Addr }, []string{"unable to authenticate"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := pinned(srv)
			tc.edit(&tg)
			start := time.Now()
			_, err := ssh.Dial(context.Background(), tg)
			require.Error(t, err)
			for _, w := range tc.wantErr {
				require.Contains(t, err.Error(), w)
			}
			require.Less(t, time.Since(start), 3*time.Second)
		})
	}
}

// silentListener accepts TCP connections and never says anything, like a
// machine whose sshd hangs.
func silentListener(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l.Addr().String()
}

func TestDialTimeoutAndCancel(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	addr := silentListener(t)

	t.Run("dial timeout bounds the handshake", func(t *testing.T) {
		tg := pinned(srv)
		tg.URI = "ssh://root@" + addr
		tg.DialTimeout = 300 * time.Millisecond
		start := time.Now()
		_, err := ssh.Dial(context.Background(), tg)
		require.Error(t, err)
		require.Contains(t, err.Error(), addr)
		require.Less(t, time.Since(start), 2*time.Second)
	})
	t.Run("context cancel aborts the handshake", func(t *testing.T) {
		tg := pinned(srv)
		tg.URI = "ssh://root@" + addr
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(200*time.Millisecond, cancel)
		start := time.Now()
		_, err := ssh.Dial(ctx, tg)
		require.ErrorIs(t, err, context.Canceled)
		require.Less(t, time.Since(start), 2*time.Second)
	})
	t.Run("already cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := ssh.Dial(ctx, pinned(srv))
		require.ErrorIs(t, err, context.Canceled)
	})
}

func TestKillServerMidSession(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	tg := pinned(srv)
	tg.KeepAliveInterval = -1 // the broken TCP connection alone must do
	c := dial(t, tg)
	s, err := c.Run(context.Background(), "echo started; cat")
	require.NoError(t, err)
	line := make([]byte, len("started\n"))
	_, err = io.ReadFull(s, line)
	require.NoError(t, err)

	srv.Kill()
	err = waitWithin(t, 5*time.Second, s.Wait)
	require.ErrorIs(t, err, ssh.ErrDisconnected)
	require.Contains(t, err.Error(), `run "echo started; cat"`)
	require.ErrorIs(t, waitWithin(t, 5*time.Second, c.Wait), ssh.ErrDisconnected)
	_, err = c.Run(context.Background(), "true")
	require.ErrorIs(t, err, ssh.ErrDisconnected)

	// The machine comes back: a new connection works.
	srv.Restart()
	c2 := dial(t, tg)
	s2, err := c2.Run(context.Background(), "echo back")
	require.NoError(t, err)
	out, err := io.ReadAll(s2)
	require.NoError(t, err)
	require.Equal(t, "back\n", string(out))
	require.NoError(t, s2.Wait())
}

func TestKeepaliveDetectsFrozenMachine(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	tg := pinned(srv)
	// Generous limits: a loaded CI machine must not look like a dead one.
	tg.KeepAliveInterval = 250 * time.Millisecond
	tg.KeepAliveCountMax = 4
	c := dial(t, tg)
	s, err := c.Run(context.Background(), "echo started; cat")
	require.NoError(t, err)
	line := make([]byte, len("started\n"))
	_, err = io.ReadFull(s, line)
	require.NoError(t, err)

	// A healthy idle connection survives many keepalive intervals.
	time.Sleep(1500 * time.Millisecond)
	select {
	case <-c.Done():
		t.Fatalf("healthy connection closed: %v", c.Wait())
	default:
	}

	srv.Pause()
	t.Cleanup(srv.Resume)
	err = waitWithin(t, 5*time.Second, s.Wait)
	require.ErrorIs(t, err, ssh.ErrDisconnected)
	require.Contains(t, err.Error(), "keepalive")
	require.ErrorIs(t, c.Wait(), ssh.ErrDisconnected)
}

func TestCancelEndsRemoteStdinReader(t *testing.T) {
	t.Parallel()
	// A root login cannot be signalled, so cancellation ends a remote
	// command by closing its channel: a command reading stdin, such as
	// nix-store --serve, sees EOF and exits.
	srv := sshdtest.Start(t, sshdtest.Options{})
	c := dial(t, pinned(srv))
	marker := filepath.Join(t.TempDir(), "ended")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.Run(ctx, "echo started; cat >/dev/null; touch "+marker)
	require.NoError(t, err)
	line := make([]byte, len("started\n"))
	_, err = io.ReadFull(s, line)
	require.NoError(t, err)
	cancel()
	require.ErrorIs(t, waitWithin(t, 5*time.Second, s.Wait), context.Canceled)
	require.Eventually(t, func() bool {
		_, err := os.Stat(marker)
		return err == nil
	}, 5*time.Second, 20*time.Millisecond, "remote command still running after cancel")
}

func TestClientCloseEndsSessions(t *testing.T) {
	t.Parallel()
	srv := sshdtest.Start(t, sshdtest.Options{})
	c, err := ssh.Dial(context.Background(), pinned(srv))
	require.NoError(t, err)
	s, err := c.Run(context.Background(), "exec sleep 300")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.Error(t, waitWithin(t, 5*time.Second, s.Wait))
	require.NoError(t, c.Wait(), "Close is not a lost connection")
	_, err = c.Run(context.Background(), "true")
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "open session"), err.Error())
}
