package binarycache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/stretchr/testify/require"
)

// TestDumpNARMatchesStore checks that the native NAR serialisation and
// `nix-store --dump` agree with the hash the store recorded.
func TestDumpNARMatchesStore(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	for _, p := range []string{fx.top, fx.dep} {
		info, err := LocalStore{}.PathInfo(ctx, p)
		require.NoError(t, err)
		for _, s := range []LocalStore{{}, {NixDump: true}} {
			var buf bytes.Buffer
			require.NoError(t, s.DumpNAR(ctx, &buf, p))
			sum := sha256.Sum256(buf.Bytes())
			require.Equal(t, info.NarHash, "sha256:"+nixbase32.EncodeToString(sum[:]), "NixDump=%v %s", s.NixDump, p)
			require.Equal(t, info.NarSize, int64(buf.Len()))
		}
	}
}

func TestLocalStoreErrors(t *testing.T) {
	fx := buildFixture(t)
	ctx := context.Background()
	missing := "/nix/store/00000000000000000000000000000000-blcache-missing"
	_, err := LocalStore{}.PathInfo(ctx, missing)
	require.Error(t, err)
	_, err = LocalStore{}.PathInfo(ctx, "/etc/passwd")
	require.Error(t, err)
	require.Error(t, LocalStore{NixDump: true}.DumpNAR(ctx, &bytes.Buffer{}, missing))
	require.Error(t, LocalStore{}.DumpNAR(ctx, &bytes.Buffer{}, missing))
	closure, err := LocalStore{}.Closure(ctx, fx.top)
	require.NoError(t, err)
	require.Equal(t, []string{fx.dep, fx.top}, closure)
	w, _ := newTestWriter(t, CompressionZstd)
	_, err = LocalStore{}.Upload(ctx, w, missing)
	require.Error(t, err)
}

func TestReferencesFirst(t *testing.T) {
	a := "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-a"
	b := "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-b"
	c := "/nix/store/cccccccccccccccccccccccccccccccc-c"
	outside := "/nix/store/dddddddddddddddddddddddddddddddd-d"
	infos := []PathInfo{
		{StorePath: a, References: []string{a, b, c}},
		{StorePath: b, References: []string{c, outside}},
		{StorePath: c, References: []string{c}},
	}
	var got []string
	for _, i := range referencesFirst(infos) {
		got = append(got, i.StorePath)
	}
	require.Equal(t, []string{c, b, a}, got)
}
