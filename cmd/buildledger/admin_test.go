package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAdminPassword: the first admin's password comes from a 0600 file,
// else from the environment, which then no longer holds it (children
// would inherit it), else it is generated; a file others may read is
// refused.
func TestAdminPassword(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "private")
	require.NoError(t, os.WriteFile(private, []byte("from-file\n"), 0o600))
	open := filepath.Join(dir, "open")
	require.NoError(t, os.WriteFile(open, []byte("from-file\n"), 0o644))

	for _, tt := range []struct {
		name, file, env string
		pw, from, err   string
	}{
		{name: "file", file: private, env: "from-env", pw: "from-file", from: "the password from " + private},
		{name: "file open to others", file: open, err: "mode 0644"},
		{name: "environment", env: "from-env", pw: "from-env", from: "the password from " + adminPasswordEnv},
		{name: "generated"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv(adminPasswordEnv, tt.env)
			}
			pw, from, err := adminPassword(tt.file)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.from, from)
			if tt.pw != "" {
				require.Equal(t, tt.pw, pw)
			} else {
				require.Len(t, pw, len(generatePassword()))
			}
			_, ok := os.LookupEnv(adminPasswordEnv)
			require.False(t, ok, "the environment no longer holds the password")
		})
	}
}
