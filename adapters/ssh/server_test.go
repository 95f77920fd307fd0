package ssh_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"buildledger/adapters/nix/serve"
	"buildledger/adapters/ssh"
)

// clientKey writes a new ed25519 private key and returns its path and
// fingerprint.
func clientKey(t *testing.T) (string, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := gossh.MarshalPrivateKey(priv, "")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "id")
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(block), 0o600))
	signer, err := gossh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return path, gossh.FingerprintSHA256(signer.PublicKey())
}

// startServer runs a server that lets only alice in with key fp and
// answers the serve handshake, reporting each client's version.
func startServer(t *testing.T, fp string, versions chan<- uint64) (*ssh.Server, *[]string) {
	t.Helper()
	var asked []string
	hostKey := filepath.Join(t.TempDir(), "host_key")
	srv, err := ssh.Listen("127.0.0.1:0", ssh.ServerConfig{
		HostKeyFile: hostKey,
		Authorize: func(_ context.Context, user, got string) error {
			asked = append(asked, user+" "+got)
			if user == "alice" && got == fp {
				return nil
			}
			return errors.New("unknown key")
		},
		Commands: map[string]ssh.ExecHandler{"nix-store --serve --write": func(_ context.Context, s *ssh.ServerSession) int {
			sv, err := serve.Accept(s, s.Stderr, true)
			if err != nil {
				return 1
			}
			versions <- sv.ClientVersion()
			return 0
		}},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	// The host key file is created once and read back on the next start.
	again, err := ssh.Listen("127.0.0.1:0", ssh.ServerConfig{HostKeyFile: hostKey, Authorize: func(context.Context, string, string) error { return nil }})
	require.NoError(t, err)
	require.Equal(t, srv.HostKey().Marshal(), again.HostKey().Marshal())
	return srv, &asked
}

func TestServerAuthenticatesByKey(t *testing.T) {
	key, fp := clientKey(t)
	other, _ := clientKey(t)
	versions := make(chan uint64, 1)
	srv, asked := startServer(t, fp, versions)
	hostLine := string(gossh.MarshalAuthorizedKey(srv.HostKey()))
	tests := []struct {
		name, user, key string
		ok              bool
	}{
		{"registered key", "alice", key, true},
		{"unknown key", "alice", other, false},
		{"key of another user", "bob", key, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := ssh.Target{URI: "ssh://" + tt.user + "@" + srv.Addr().String(), KeyFile: tt.key, HostKey: hostLine}
			c, err := ssh.Dial(context.Background(), tg)
			if !tt.ok {
				require.ErrorContains(t, err, "unable to authenticate")
				return
			}
			require.NoError(t, err)
			defer c.Close()
			sess, err := c.Run(context.Background(), "nix-store --serve --write")
			require.NoError(t, err)
			_, err = serve.NewClient(context.Background(), sess)
			require.NoError(t, err)
			require.Equal(t, uint64(serve.ProtocolVersion), <-versions)
			_ = sess.Close()
		})
	}
	require.Contains(t, *asked, "bob "+fp)
}

func TestServerRefusesOtherCommands(t *testing.T) {
	key, fp := clientKey(t)
	srv, _ := startServer(t, fp, make(chan uint64, 1))
	tg := ssh.Target{URI: "ssh://alice@" + srv.Addr().String(), KeyFile: key, HostKey: string(gossh.MarshalAuthorizedKey(srv.HostKey()))}
	c := dial(t, tg)
	for _, cmd := range []string{"sh", "nix-store --serve --write; sh", "nix-daemon --stdio"} {
		_, err := c.Run(context.Background(), cmd)
		require.Error(t, err, cmd)
	}
}

// freezer forwards one TCP connection to addr until frozen; then it
// drops what either side sends, closing nothing, as a network that went
// away does.
type freezer struct {
	ln     net.Listener
	frozen chan struct{}
}

func startFreezer(t *testing.T, addr string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{ln: ln, frozen: make(chan struct{})}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", addr)
		if err != nil {
			_ = in.Close()
			return
		}
		t.Cleanup(func() { _ = in.Close(); _ = out.Close() })
		go f.forward(out, in)
		f.forward(in, out)
	}()
	return f
}

func (f *freezer) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			n = 0
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// serveAlice serves cfg, with a host key of its own, letting in only
// alice with key fp, until the test ends.
func serveAlice(t *testing.T, fp string, cfg ssh.ServerConfig) *ssh.Server {
	t.Helper()
	cfg.HostKeyFile = filepath.Join(t.TempDir(), "host_key")
	cfg.Authorize = func(_ context.Context, user, got string) error {
		if user == "alice" && got == fp {
			return nil
		}
		return errors.New("unknown key")
	}
	srv, err := ssh.Listen("127.0.0.1:0", cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return srv
}

// TestServerKeepaliveDropsVanishedClient: the server's keepalives keep
// a client that answers them connected however many pass, and close the
// connection of one that stops answering (its network went away), which
// ends its handler's context.
func TestServerKeepaliveDropsVanishedClient(t *testing.T) {
	key, fp := clientKey(t)
	started, ended := make(chan struct{}), make(chan struct{})
	srv := serveAlice(t, fp, ssh.ServerConfig{
		Commands: map[string]ssh.ExecHandler{"wait": func(ctx context.Context, _ *ssh.ServerSession) int {
			close(started)
			<-ctx.Done()
			close(ended)
			return 0
		}},
		KeepAliveInterval: 20 * time.Millisecond,
		KeepAliveCountMax: 25, // generous: a loaded machine must not drop a live client
	})

	f := startFreezer(t, srv.Addr().String())
	pem, err := os.ReadFile(key)
	require.NoError(t, err)
	signer, err := gossh.ParsePrivateKey(pem)
	require.NoError(t, err)
	nc, err := net.Dial("tcp", f.ln.Addr().String())
	require.NoError(t, err)
	conn, chans, reqs, err := gossh.NewClientConn(nc, f.ln.Addr().String(), &gossh.ClientConfig{User: "alice",
		Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)}, HostKeyCallback: gossh.FixedHostKey(srv.HostKey())})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	keepalives := make(chan struct{})
	go func() {
		for r := range reqs {
			if r.Type == "keepalive@openssh.com" {
				keepalives <- struct{}{}
			}
			_ = r.Reply(false, nil)
		}
		close(keepalives)
	}()
	cl := gossh.NewClient(conn, chans, nil)
	sess, err := cl.NewSession()
	require.NoError(t, err)
	require.NoError(t, sess.Start("wait"))
	<-started

	for range 20 {
		<-keepalives // each answered, as a refusal
	}
	select {
	case <-ended:
		t.Fatal("a client that answers keepalives was dropped")
	default:
	}

	close(f.frozen)
	go func() {
		for range keepalives { // the client still answers; nothing reaches the server
		}
	}()
	require.NoError(t, waitWithin(t, 30*time.Second, func() error { <-ended; return nil }))
}

// TestServerKeepaliveOpenSSHClient: OpenSSH's ssh, the client Nix runs,
// answers the server's keepalives, so a session that lasts many
// keepalive intervals is not dropped.
func TestServerKeepaliveOpenSSHClient(t *testing.T) {
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skipf("ssh is not installed: %v", err)
	}
	key, fp := clientKey(t)
	const interval = 25 * time.Millisecond
	srv := serveAlice(t, fp, ssh.ServerConfig{
		Commands: map[string]ssh.ExecHandler{"wait": func(ctx context.Context, _ *ssh.ServerSession) int {
			select {
			case <-ctx.Done():
				return 1
			case <-time.After(80 * interval):
				return 0
			}
		}},
		KeepAliveInterval: interval,
		KeepAliveCountMax: 20, // generous: a loaded machine must not drop a live client
	})

	host, port, err := net.SplitHostPort(srv.Addr().String())
	require.NoError(t, err)
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	require.NoError(t, os.WriteFile(knownHosts, []byte(srv.KnownHostsLine(srv.Addr().String())+"\n"), 0o600))
	out, err := exec.Command("ssh", "-p", port, "-o", "UserKnownHostsFile="+knownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-i", key, "alice@"+host, "wait").CombinedOutput()
	require.NoError(t, err, "%s", out)
}
