package ssh_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"buildledger/adapters/ssh"
)

func TestParseHostKey(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	key, err := gossh.NewPublicKey(pub)
	require.NoError(t, err)
	wire := base64.StdEncoding.EncodeToString(key.Marshal())
	line := "ssh-ed25519 " + wire

	cases := []struct {
		name    string
		in      string
		wantErr string
	}{
		{name: "wire base64", in: wire},
		{name: "wire base64 unpadded", in: base64.RawStdEncoding.EncodeToString(key.Marshal())},
		{name: "authorized_keys line", in: line},
		{name: "authorized_keys line with comment and spaces", in: "  " + line + " root@builder\n"},
		{name: "nix machines column", in: base64.StdEncoding.EncodeToString([]byte(line + "\n"))},
		{name: "nix machines column with comment", in: base64.StdEncoding.EncodeToString([]byte(line + " root@builder"))},
		{name: "empty", in: "  ", wantErr: "empty"},
		{name: "not base64", in: "!!!", wantErr: "not base64"},
		{name: "base64 of junk", in: base64.StdEncoding.EncodeToString([]byte("junk")), wantErr: "neither"},
		{name: "bad line", in: "ssh-ed25519 AAAAnotakey", wantErr: "parse host key line"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ssh.ParseHostKey(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, key.Marshal(), got.Marshal())
		})
	}
}

func TestHostKeyErrorMessages(t *testing.T) {
	unknown := &ssh.HostKeyError{Host: "b:22", Offered: "SHA256:x", OfferedType: "ssh-ed25519", Source: "known_hosts file /k"}
	require.EqualError(t, unknown, "host b:22 is unknown to known_hosts file /k: it offered ssh-ed25519 key SHA256:x")
	changed := &ssh.HostKeyError{Host: "b:22", Offered: "SHA256:x", OfferedType: "ssh-ed25519", Want: []string{"SHA256:y"}, Source: "pinned host key"}
	require.EqualError(t, changed, "host key mismatch for b:22: it offered ssh-ed25519 key SHA256:x, but pinned host key expects SHA256:y (host key changed or wrong machine)")
}

func FuzzParseHostKey(f *testing.F) {
	f.Add("AAAAC3NzaC1lZDI1NTE5AAAAIIknxMKJyGz4YD54lMZLUDcsEcaD4m3vP7YsuKNB5if0")
	f.Add("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIknxMKJyGz4YD54lMZLUDcsEcaD4m3vP7YsuKNB5if0 c")
	f.Add("c3NoLWVkMjU1MTkgQUFBQUMzTnphQzFsWkRJMU5URTVBQUFBSUlrbnhNS0p5R3o0WUQ1NGxNWkxVRGNzRWNhRDRtM3ZQN1lzdUtOQjVpZjAK")
	f.Add("")
	f.Add("====")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ssh.ParseHostKey(s)
		if err != nil {
			return
		}
		// Whatever was accepted must round-trip through the wire form.
		again, err := ssh.ParseHostKey(base64.StdEncoding.EncodeToString(key.Marshal()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", s, err)
		}
		if string(again.Marshal()) != string(key.Marshal()) {
			t.Fatalf("round trip of %q changed the key", s)
		}
	})
}
