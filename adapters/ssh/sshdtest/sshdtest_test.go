package sshdtest_test

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"buildledger/adapters/ssh/sshdtest"
)

// dial connects with x/crypto/ssh directly, pinning the server's host key.
func dial(t *testing.T, s *sshdtest.Server) (*ssh.Client, error) {
	t.Helper()
	pem, err := os.ReadFile(s.ClientKeyPath)
	require.NoError(t, err)
	signer, err := ssh.ParsePrivateKey(pem)
	require.NoError(t, err)
	return ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
		Timeout:         5 * time.Second,
	})
}

func output(t *testing.T, c *ssh.Client, cmd string) string {
	t.Helper()
	sess, err := c.NewSession()
	require.NoError(t, err)
	defer sess.Close()
	out, err := sess.CombinedOutput(cmd)
	require.NoError(t, err, string(out))
	return string(out)
}

func TestStartRunKillRestart(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{Env: map[string]string{
		"BUILDLEDGER_PROBE": "hello world",
		"PATH":              "/usr/bin:/bin",
	}})
	require.Equal(t, "ssh://"+s.User+"@"+s.Addr, s.URI())
	require.True(t, strings.HasPrefix(s.HostKeyLine(), "ssh-ed25519 "+s.HostPublicKey))
	known, err := os.ReadFile(s.KnownHostsPath)
	require.NoError(t, err)
	require.Contains(t, string(known), s.HostPublicKey)

	c, err := dial(t, s)
	require.NoError(t, err)
	// The login shell raises the preset SHLVL=1 to 2.
	require.Equal(t, "hello world /usr/bin:/bin 2\n", output(t, c, `echo "$BUILDLEDGER_PROBE" "$PATH" "$SHLVL"`))

	// A long-running remote command must die with the server.
	sess, err := c.NewSession()
	require.NoError(t, err)
	require.NoError(t, sess.Start("sleep 300"))
	s.Kill()
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("session survived Kill")
	}
	_, err = net.DialTimeout("tcp", s.Addr, time.Second)
	require.Error(t, err, "port still accepts after Kill")

	s.Restart()
	c2, err := dial(t, s)
	require.NoError(t, err)
	require.Equal(t, "again\n", output(t, c2, "echo again"))
	require.NoError(t, c2.Close())
}

func TestPauseResume(t *testing.T) {
	s := sshdtest.Start(t, sshdtest.Options{})
	c, err := dial(t, s)
	require.NoError(t, err)
	defer c.Close()

	s.Pause()
	replied := make(chan struct{})
	go func() {
		_, _, _ = c.SendRequest("keepalive@openssh.com", true, nil)
		close(replied)
	}()
	select {
	case <-replied:
		t.Fatal("paused server answered a request")
	case <-time.After(300 * time.Millisecond):
	}
	s.Resume()
	select {
	case <-replied:
	case <-time.After(5 * time.Second):
		t.Fatal("resumed server did not answer")
	}
	require.Equal(t, "ok\n", output(t, c, "echo ok"))
}

func TestRejectsOtherKeys(t *testing.T) {
	a := sshdtest.Start(t, sshdtest.Options{})
	b := sshdtest.Start(t, sshdtest.Options{})
	require.NotEqual(t, a.HostPublicKey, b.HostPublicKey)
	// b's client key is not authorized on a.
	pem, err := os.ReadFile(b.ClientKeyPath)
	require.NoError(t, err)
	signer, err := ssh.ParsePrivateKey(pem)
	require.NoError(t, err)
	_, err = ssh.Dial("tcp", a.Addr, &ssh.ClientConfig{
		User:            a.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(a.HostKey),
		Timeout:         5 * time.Second,
	})
	require.ErrorContains(t, err, "unable to authenticate")
}
