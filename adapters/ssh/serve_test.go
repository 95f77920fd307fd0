package ssh_test

import (
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/ssh"
	"buildledger/adapters/ssh/sshdtest"
)

// Serve protocol constants, only as much as a handshake needs; the real
// client lives in adapters/nix/serve.
const (
	serveMagicClient = 0x390c9deb
	serveMagicServer = 0x5452eecb
	serveVersion     = 0x206
)

// handshake does the serve protocol greeting on conn and returns the
// server's protocol version.
func handshake(t *testing.T, conn ssh.Conn) uint64 {
	t.Helper()
	var hello [16]byte
	binary.LittleEndian.PutUint64(hello[0:], serveMagicClient)
	binary.LittleEndian.PutUint64(hello[8:], serveVersion)
	_, err := conn.Write(hello[:])
	require.NoError(t, err)
	var reply [16]byte
	_, err = io.ReadFull(conn, reply[:])
	require.NoError(t, err, "stderr: %s", conn.Stderr())
	require.Equal(t, uint64(serveMagicServer), binary.LittleEndian.Uint64(reply[0:]), "server magic")
	return binary.LittleEndian.Uint64(reply[8:])
}

func TestNixStoreServeHandshake(t *testing.T) {
	t.Parallel()
	nixStore := nixStore(t)
	srv := sshdtest.Start(t, sshdtest.Options{Env: map[string]string{"PATH": "/usr/bin:/bin"}})
	c := dial(t, pinned(srv))
	starts := map[string]func(ctx context.Context) (ssh.Conn, error){
		"ssh": func(ctx context.Context) (ssh.Conn, error) {
			return c.Run(ctx, "nix-store --serve --write")
		},
		"local": func(ctx context.Context) (ssh.Conn, error) {
			return ssh.Local(ctx, nixStore, "--serve", "--write")
		},
	}
	for kind, start := range starts {
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			conn, err := start(ctx)
			require.NoError(t, err)
			defer conn.Close()

			version := handshake(t, conn)
			t.Logf("%s: nix-store --serve speaks protocol %#x", kind, version)
			require.Equal(t, uint64(2), version>>8, "major protocol version")
			require.GreaterOrEqual(t, version&0xff, uint64(6), "minor protocol version")

			// End of input ends the server cleanly.
			require.NoError(t, conn.CloseWrite())
			rest, err := io.ReadAll(conn)
			require.NoError(t, err)
			require.Empty(t, rest)
			require.NoError(t, conn.Wait(), "stderr: %s", conn.Stderr())
		})
	}
}
