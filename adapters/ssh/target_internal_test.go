package ssh

import (
	"net"
	"os/user"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseURI(t *testing.T) {
	cur, err := user.Current()
	require.NoError(t, err)
	cases := []struct {
		uri     string
		user    string
		addr    string
		wantErr string
	}{
		{uri: "ssh://nix@builder", user: "nix", addr: "builder:22"},
		{uri: "ssh://nix@builder:2222", user: "nix", addr: "builder:2222"},
		{uri: "ssh://builder.example.org", user: cur.Username, addr: "builder.example.org:22"},
		{uri: "ssh://root@[::1]:22", user: "root", addr: "[::1]:22"},
		{uri: "ssh://root@127.0.0.1:2222/", user: "root", addr: "127.0.0.1:2222"},
		{uri: "ssh-ng://nix@builder", wantErr: `unsupported scheme "ssh-ng"`},
		{uri: "http://builder", wantErr: `unsupported scheme "http"`},
		{uri: "nix@builder", wantErr: "has no scheme"},
		{uri: "localhost", wantErr: "has no scheme"},
		{uri: "ssh://", wantErr: "has no host"},
		{uri: "ssh://nix@builder/path", wantErr: "path, query and fragment"},
		{uri: "ssh://nix@builder?remote-store=x", wantErr: "path, query and fragment"},
		{uri: "ssh://nix@builder:notaport", wantErr: "parse machine URI"},
		{uri: "ssh://]", wantErr: "invalid host"},
		{uri: "ssh://a,b", wantErr: "invalid host"},
	}
	for _, tc := range cases {
		t.Run(tc.uri, func(t *testing.T) {
			ep, err := parseURI(tc.uri)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.ErrorContains(t, err, tc.uri)
				return
			}
			require.NoError(t, err)
			require.Equal(t, endpoint{user: tc.user, addr: tc.addr}, ep)
		})
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"ssh://nix@builder:2222", "ssh://[::1]", "ssh-ng://x", "nix@b", "ssh://a@b/c?d#e", "ssh://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		ep, err := parseURI(uri)
		if err != nil {
			return
		}
		host, port, err := net.SplitHostPort(ep.addr)
		if err != nil || host == "" || port == "" || ep.user == "" {
			t.Fatalf("parseURI(%q) accepted a bad endpoint %+v (%v)", uri, ep, err)
		}
	})
}
