package ssh_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"buildledger/adapters/ssh"
	"buildledger/adapters/ssh/sshdtest"
)

// TestPinnedKeyAmongSeveralHostKeys checks that the client asks for the
// pinned key's algorithm: a server with an ECDSA and an ed25519 host key
// must be accepted whichever of the two is pinned.
func TestPinnedKeyAmongSeveralHostKeys(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	block, err := gossh.MarshalPrivateKey(priv, "ecdsa-host")
	require.NoError(t, err)
	ecdsaPath := filepath.Join(t.TempDir(), "host_ecdsa")
	require.NoError(t, os.WriteFile(ecdsaPath, pem.EncodeToMemory(block), 0o600))
	ecdsaPub, err := gossh.NewPublicKey(&priv.PublicKey)
	require.NoError(t, err)

	srv := sshdtest.Start(t, sshdtest.Options{ExtraConfig: []string{"HostKey " + ecdsaPath}})
	known := filepath.Join(t.TempDir(), "known_hosts")
	line := fmt.Sprintf("[127.0.0.1]:%d %s", srv.Port, gossh.MarshalAuthorizedKey(ecdsaPub))
	require.NoError(t, os.WriteFile(known, []byte(line), 0o600))

	cases := map[string]ssh.Target{
		"pinned ed25519": pinned(srv),
		"pinned ecdsa": {URI: srv.URI(), KeyFile: srv.ClientKeyPath,
			HostKey: base64.StdEncoding.EncodeToString(ecdsaPub.Marshal())},
		"known_hosts ed25519": {URI: srv.URI(), KeyFile: srv.ClientKeyPath, KnownHostsFile: srv.KnownHostsPath},
		"known_hosts ecdsa":   {URI: srv.URI(), KeyFile: srv.ClientKeyPath, KnownHostsFile: known},
	}
	for name, tg := range cases {
		t.Run(name, func(t *testing.T) {
			c := dial(t, tg)
			s, err := c.Run(context.Background(), "echo ok")
			require.NoError(t, err)
			out, err := io.ReadAll(s)
			require.NoError(t, err)
			require.Equal(t, "ok\n", string(out))
			require.NoError(t, s.Wait())
		})
	}
}
