package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/hydraconf"
)

// TestReadWebhooks: a good list gives hooks with their secrets under the
// names requests give; bad lists and files open to others are refused
// with an error naming the file.
func TestReadWebhooks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	key := write("key", "s3cret\n", 0o600)
	open := write("open-key", "s3cret\n", 0o644)
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		err           string
	}{
		{"good", `[{"project": "p", "url": "https://hooks.example.org/x", "secretFile": "` + key + `"}]`, 0o600, ""},
		{"open to others", `[]`, 0o644, "chmod 600"},
		{"not a list", `{"project": "p"}`, 0o600, "JSON list"},
		{"unknown field", `[{"project": "p", "url": "https://h/x", "secretFile": "` + key + `", "secret": "x"}]`, 0o600, "unknown field"},
		{"bad project", `[{"project": "../p", "url": "https://h/x", "secretFile": "` + key + `"}]`, 0o600, "not a project name"},
		{"file url", `[{"project": "p", "url": "file:///etc/passwd", "secretFile": "` + key + `"}]`, 0o600, "http(s)"},
		{"unsigned", `[{"project": "p", "url": "https://h/x"}]`, 0o600, "secretFile is required"},
		{"secret open to others", `[{"project": "p", "url": "https://h/x", "secretFile": "` + open + `"}]`, 0o600, "chmod 600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secrets := map[string]string{}
			hooks, err := readWebhooks(write(tc.name+".json", tc.content, tc.mode), secrets)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Len(t, hooks, 1)
			require.Equal(t, "s3cret", secrets[hooks[0].Secret])
		})
	}
}

// TestNotifySecrets: hydra.conf's credentials are named as requests ask.
func TestNotifySecrets(t *testing.T) {
	kept := mustKept(t, "<github_authorization>\n  owner = token gh\n</github_authorization>\n<gitea_authorization>\n  o = tea\n</gitea_authorization>\n"+
		"<githubstatus>\n  jobs = .*\n  authorization = token conf\n</githubstatus>\nenable_bitbucket_status = 1\n<bitbucket>\n  username = u\n  password = pw\n</bitbucket>\n")
	require.Equal(t, map[string]string{"github_authorization/owner": "token gh", "gitea_authorization/o": "tea", "githubstatus/0": "token conf",
		"bitbucket": "u:pw"}, notifySecrets(kept))
}

func mustKept(t *testing.T, conf string) hydraconf.Kept {
	t.Helper()
	root, err := hydraconf.Parse("hydra.conf", func(string) ([]byte, error) { return []byte(conf), nil })
	require.NoError(t, err)
	c, err := hydraconf.Interpret(root)
	require.NoError(t, err)
	return c.Kept
}
