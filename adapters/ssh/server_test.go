package ssh_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"

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
