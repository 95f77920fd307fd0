package drv

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
)

// chrootStore returns a Store on a fresh chroot store under a temp dir.
func chrootStore(t *testing.T) Store {
	t.Helper()
	return Store{
		URI:  filepath.Join(t.TempDir(), "store"),
		Args: noSubstitutes,
	}
}

func TestStoreQueries(t *testing.T) {
	ctx := context.Background()
	n := nonce()
	root := instantiate(t, `let
		a = derivation { name = "qa"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "echo a > $out"]; nonce = "`+n+`"; };
		in derivation { name = "qb"; system = builtins.currentSystem; builder = "`+nixtest.Sh+`"; args = ["sh" "-c" "echo ${a} > $out"]; }`)[0]
	main := Store{Args: noSubstitutes}
	outs, err := main.Realise(ctx, root)
	require.NoError(t, err)
	require.Len(t, outs, 1)
	b := outs[0]
	d, err := Read(root)
	require.NoError(t, err)
	require.Equal(t, d.Outputs["out"], b)
	var a string
	for in := range d.InputDrvs {
		ad, err := Read(in)
		require.NoError(t, err)
		a = ad.Outputs["out"]
	}

	refs, err := main.QueryReferences(ctx, b)
	require.NoError(t, err)
	require.Equal(t, []string{a}, refs)

	deriver, err := main.QueryDeriver(ctx, b)
	require.NoError(t, err)
	require.Equal(t, root, deriver)

	closure, err := main.ClosureOf(ctx, []string{b})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{a, b}, closure)

	// Thousands of paths, in small batches: only the two real ones are valid.
	paths := []string{a, b}
	for i := 0; i < 3000; i++ {
		paths = append(paths, fakePath(fmt.Sprintf("missing-%s-%d", n, i)))
	}
	main.Batch = 700
	valid, err := main.ValidPaths(ctx, paths)
	require.NoError(t, err)
	require.Len(t, valid, len(paths))
	count := 0
	for _, ok := range valid {
		if ok {
			count++
		}
	}
	require.Equal(t, 2, count)
	require.True(t, valid[a])
	require.True(t, valid[b])

	_, err = main.QueryReferences(ctx, fakePath("nope-"+n))
	require.Error(t, err)
	_, err = main.ValidPaths(ctx, []string{"/not/a/store/path"})
	require.Error(t, err)

	// Export from the main store into a chroot store.
	chroot := chrootStore(t)
	v, err := chroot.ValidPaths(ctx, []string{a, b})
	require.NoError(t, err)
	require.False(t, v[a] || v[b])
	var buf bytes.Buffer
	require.NoError(t, main.Export(ctx, &buf, closure...))
	imported, err := chroot.Import(ctx, &buf)
	require.NoError(t, err)
	require.ElementsMatch(t, closure, imported)
	v, err = chroot.ValidPaths(ctx, []string{a, b})
	require.NoError(t, err)
	require.True(t, v[a] && v[b])

	var nar bytes.Buffer
	require.NoError(t, chroot.DumpPath(ctx, &nar, b))
	require.True(t, strings.Contains(nar.String(), "nix-archive-1"))
}

// TestValidPathsNotOnDisk: in a local store, a store path that is not on
// disk is invalid without asking nix-store (here one that cannot run);
// a path outside the store is still nix-store's to judge.
func TestValidPathsNotOnDisk(t *testing.T) {
	ctx := context.Background()
	missing := fakePath("not-on-disk")
	for _, st := range []*Store{{Bin: "/nonexistent/nix-store"}, {Bin: "/nonexistent/nix-store", URI: t.TempDir()}} {
		v, err := st.ValidPaths(ctx, []string{missing})
		require.NoError(t, err, "store %q", st.URI)
		require.Equal(t, map[string]bool{missing: false}, v)
		_, err = st.ValidPaths(ctx, []string{"/not/a/store/path"})
		require.Error(t, err, "store %q", st.URI)
	}
	_, err := (&Store{Bin: "/nonexistent/nix-store", URI: "daemon"}).ValidPaths(ctx, []string{missing})
	require.Error(t, err, "a store elsewhere is always asked")
}
