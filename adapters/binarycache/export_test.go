package binarycache

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
)

// TestExportClosureImports exports the fixture's closure and imports it
// with nix-store --import into an empty store, where both paths are then
// valid with the references and NAR hashes of the original.
func TestExportClosureImports(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	var buf bytes.Buffer
	require.NoError(t, LocalStore{}.ExportClosure(ctx, &buf, fx.top))

	dir := nixtest.NewChrootStore(t)
	cmd := exec.Command("nix-store", "--store", dir, "--import")
	cmd.Env = nixEnv(t)
	cmd.Stdin = &buf
	out, err := cmd.Output()
	require.NoError(t, err)
	require.Equal(t, []string{fx.dep, fx.top}, strings.Fields(string(out)), "references first")

	imported := LocalStore{Store: dir}
	for _, p := range []string{fx.dep, fx.top} {
		want, err := LocalStore{}.PathInfo(ctx, p)
		require.NoError(t, err)
		got, err := imported.PathInfo(ctx, p)
		require.NoError(t, err)
		require.Equal(t, want.References, got.References)
		require.Equal(t, want.NarHash, got.NarHash)
	}
}

// TestValid keeps the valid paths, in order, and refuses what is no
// store path.
func TestValid(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	missing := "/nix/store/00000000000000000000000000000000-blcache-missing"
	got, err := LocalStore{}.Valid(ctx, fx.top, missing, fx.dep)
	require.NoError(t, err)
	require.Equal(t, []string{fx.top, fx.dep}, got)
	_, err = LocalStore{}.Valid(ctx, "/etc/passwd")
	require.Error(t, err)
}
