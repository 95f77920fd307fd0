package ssh_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/ssh"
	"buildledger/adapters/ssh/sshdtest"
)

// pinned returns a Target for s that pins its host key.
func pinned(s *sshdtest.Server) ssh.Target {
	return ssh.Target{URI: s.URI(), KeyFile: s.ClientKeyPath, HostKey: s.HostPublicKey}
}

// dial connects to s and closes the client when the test ends.
func dial(t *testing.T, tg ssh.Target) *ssh.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := ssh.Dial(ctx, tg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitWithin calls wait and fails the test if it does not return within d.
func waitWithin(t *testing.T, d time.Duration, wait func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("Wait did not return within %s", d)
		return nil
	}
}

// nixStore returns the nix-store binary, skipping (or failing under CI)
// when Nix is not installed.
func nixStore(t *testing.T) string {
	t.Helper()
	const p = "/usr/bin/nix-store"
	if _, err := os.Stat(p); err != nil {
		msg := "nix-store not installed (" + err.Error() + "): SERVE PROTOCOL TEST NOT RUN"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}
