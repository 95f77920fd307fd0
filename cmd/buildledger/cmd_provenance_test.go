package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/provenance"
)

func runProvenanceCLI(args ...string) (string, int) {
	var out bytes.Buffer
	code := newApp(&out, &out).main(context.Background(), append([]string{"provenance"}, args...))
	return out.String(), code
}

// TestProvenanceKeyAndVerify: the provenance key is generated once under
// the home (private 0600, its public half beside it) and reused; verify
// accepts an envelope it signed, and refuses another key's, an altered
// one, and bad invocations, each with a message and exit 1.
func TestProvenanceKeyAndVerify(t *testing.T) {
	home := t.TempDir()
	key, err := provenanceKey(home, "")
	require.NoError(t, err)
	st, err := os.Stat(filepath.Join(home, "provenance-key.pem"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	again, err := provenanceKey(home, "")
	require.NoError(t, err)
	require.Equal(t, key, again, "generated once")
	fromFlag, err := provenanceKey(t.TempDir(), filepath.Join(home, "provenance-key.pem"))
	require.NoError(t, err)
	require.Equal(t, key, fromFlag)
	_, err = provenanceKey(home, filepath.Join(home, "missing.pem"))
	require.ErrorContains(t, err, "--provenance-key-file")

	dir := t.TempDir()
	env, err := provenance.Sign(key, []byte(`{"subject":[{"name":"/nix/store/x"}]}`))
	require.NoError(t, err)
	envFile := filepath.Join(dir, "env.json")
	require.NoError(t, os.WriteFile(envFile, env, 0o644))
	pub := filepath.Join(home, "provenance-key.pem.pub")
	otherKey := filepath.Join(dir, "other.pem")
	runKeygen(t, otherKey)
	altered := filepath.Join(dir, "altered.json")
	require.NoError(t, os.WriteFile(altered, bytes.Replace(env, []byte(`"payload":"`), []byte(`"payload":"AA`), 1), 0o644))

	out, code := runProvenanceCLI("verify", envFile, "--pubkey", pub)
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "subject /nix/store/x")
	out, code = runProvenanceCLI("verify", "--pubkey", pub, envFile)
	require.Equal(t, 0, code, out)

	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"other key":  {[]string{"verify", envFile, "--pubkey", otherKey + ".pub"}, "no valid signature"},
		"altered":    {[]string{"verify", altered, "--pubkey", pub}, "provenance"},
		"no pubkey":  {[]string{"verify", envFile}, "--pubkey is required"},
		"no file":    {[]string{"verify", "--pubkey", pub}, "usage"},
		"two files":  {[]string{"verify", envFile, envFile, "--pubkey", pub}, "usage"},
		"not a key":  {[]string{"verify", envFile, "--pubkey", envFile}, "not PEM"},
		"missing":    {[]string{"verify", filepath.Join(dir, "nope"), "--pubkey", pub}, "read envelope"},
		"no command": {nil, "usage"},
		"unknown":    {[]string{"sign"}, "unknown provenance command"},
	} {
		t.Run(name, func(t *testing.T) {
			out, code := runProvenanceCLI(tc.args...)
			require.Equal(t, 1, code, out)
			require.Contains(t, out, tc.want)
		})
	}
}
