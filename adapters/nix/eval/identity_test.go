package eval_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/daemon/daemontest"
	"buildledger/adapters/nix/eval"
)

// TestEvaluateAsUnprivilegedUser: run as root, an evaluation as the
// evaluation user cannot read a root-only file that restrict-eval lets
// through (an operator's allowed path), where the same evaluation as root
// can; and it still writes its derivations to the store, through the
// daemon.
func TestEvaluateAsUnprivilegedUser(t *testing.T) {
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Skip("nix-instantiate not on PATH")
	}
	id := daemontest.Identity(t)
	const secret = "root-only-5ca1ab1e"
	// Not under t.TempDir, whose parent is 0700: the user must reach the
	// directory to find the file it may not read.
	dir, err := os.MkdirTemp("", "allowed-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	secretFile := filepath.Join(dir, "cache-key.sec")
	require.NoError(t, os.WriteFile(secretFile, []byte(secret), 0o600))
	// Inputs reach Nix as store paths, which every user can read.
	jobs, err := filepath.Abs("testdata/jobs")
	require.NoError(t, err)
	out, err := exec.Command("nix-store", "--add", jobs).Output()
	require.NoError(t, err)
	src := strings.TrimSpace(string(out))

	for _, tt := range []struct {
		name   string
		id     eval.Identity
		leaked bool
	}{{"as root", eval.Identity{}, true}, {"as " + id.Name, id, false}} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := eval.Evaluate(context.Background(), eval.Request{
				NixExprInput: "src", NixExprPath: "asuser.nix", Backend: eval.BackendInstantiate,
				Timeout: time.Minute, AllowedPaths: []string{dir}, Identity: tt.id,
				Inputs: map[string]eval.Input{
					"src":        {Kind: eval.KindPath, Value: src, InputType: "path"},
					"secretFile": {Kind: eval.KindString, Value: secretFile},
				}})
			require.NoError(t, err)
			if tt.leaked {
				require.Contains(t, res.Errors["secret"], secret)
			} else {
				require.NotContains(t, res.Errors["secret"], secret)
				require.Contains(t, res.Errors["secret"], "Permission denied")
			}
			require.Len(t, res.Jobs, 1)
			require.FileExists(t, res.Jobs[0].DrvPath)
		})
	}
}

// TestIdentityDirOutsideUnreachableBase: the directory of the evaluation
// user's own under a base it cannot enter (a home in root's 0700 home) is
// placed where it can, and is that user's.
func TestIdentityDirOutsideUnreachableBase(t *testing.T) {
	id := daemontest.Identity(t)
	base := filepath.Join(t.TempDir(), "home", "git") // t.TempDir is 0700
	require.NoError(t, os.MkdirAll(base, 0o755))
	dir, err := id.Dir(base)
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.False(t, strings.HasPrefix(dir, base), "placed at %s", dir)
	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, id.Credential.Uid, st.Sys().(*syscall.Stat_t).Uid)
	again, err := id.Dir(base)
	require.NoError(t, err)
	require.Equal(t, dir, again, "the link under base finds it again")
}
