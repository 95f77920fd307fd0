package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGCRootsDir(t *testing.T) {
	cases := []struct {
		flag, home, want string
	}{
		{"default", "/srv/ci/.buildledger", "/nix/var/nix/gcroots/buildledger/srv-ci-.buildledger"},
		{"/var/roots", "/srv", "/var/roots"},
		{"", "/srv", ""},
	}
	for _, c := range cases {
		got, err := gcRootsDir(c.flag, c.home)
		require.NoError(t, err)
		require.Equal(t, c.want, got, "%s %s", c.flag, c.home)
	}

	got, err := gcRootsDir("default", "rel-home")
	require.NoError(t, err)
	require.Equal(t, gcRootsParent, filepath.Dir(got), "one directory per home, right under the parent")
	require.True(t, strings.HasSuffix(got, "-rel-home"), "a relative home is named by its absolute path: %s", got)
}
