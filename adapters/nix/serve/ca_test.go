package serve_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/nix/serve"
)

// storeInfo is a valid path's NAR and info as the local Nix store has it.
func storeInfo(t *testing.T, p string) (serve.PathInfo, []byte) {
	t.Helper()
	args := []string{"--extra-experimental-features", "nix-command", "path-info", "--json", p}
	if strings.HasSuffix(p, ".drv") {
		args = append(args, "--derivation")
	}
	out, err := exec.Command("nix", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var infos []struct {
		Path       string   `json:"path"`
		References []string `json:"references"`
		CA         string   `json:"ca"`
	}
	require.NoError(t, json.Unmarshal(out, &infos))
	require.Len(t, infos, 1)
	nar, err := exec.Command("nix-store", "--dump", p).Output()
	require.NoError(t, err)
	return serve.PathInfo{Path: p, References: infos[0].References, CA: infos[0].CA}, nar
}

func TestVerifyContentAddress(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	require.NoError(t, os.WriteFile(file, []byte("checked "+t.Name()+"\n"), 0o644))
	src, err := exec.Command("nix-store", "--add", file).Output()
	require.NoError(t, err)
	// Only instantiated, never built; its builder is the store's busybox
	// all the same, as under Nix's default sandbox no /bin/sh exists.
	expr := `derivation { name = "ca-check"; system = builtins.currentSystem; builder = "` + nixtest.Sh +
		`"; args = [ "sh" "-c" "cat ${builtins.toFile "t" "hi"} ${` + file + `} > $out" ]; }`
	drvOut, err := exec.Command("nix-instantiate", "--expr", expr).Output()
	require.NoError(t, err)
	for _, p := range []string{strings.TrimSpace(string(src)), strings.TrimSpace(string(drvOut))} {
		info, nar := storeInfo(t, p)
		sum := sha256.Sum256(nar)
		t.Run(filepath.Base(p), func(t *testing.T) {
			require.NoError(t, serve.VerifyContentAddress(info, nar, sum[:]))

			require.ErrorContains(t, serve.VerifyContentAddress(forged(info), nar, sum[:]), "its contents make it")

			other := append([]byte(nil), nar...)
			other[bytes.Index(other, []byte("check"))] ^= 1 // a byte of the contents
			osum := sha256.Sum256(other)
			require.Error(t, serve.VerifyContentAddress(info, other, osum[:]), "altered contents")

			noCA := info
			noCA.CA = ""
			require.ErrorIs(t, serve.VerifyContentAddress(noCA, nar, sum[:]), serve.ErrNotContentAddressed)
			ca, err := serve.CheckContentAddress(noCA, nar, sum[:])
			require.NoError(t, err, "the address follows from the contents")
			require.Equal(t, info.CA, ca)
			_, err = serve.CheckContentAddress(forgedNoCA(forged(info)), nar, sum[:])
			require.ErrorIs(t, err, serve.ErrNotContentAddressed)

			moreRefs := info
			moreRefs.References = append([]string{"/nix/store/" + strings.Repeat("1", 32) + "-x"}, info.References...)
			require.Error(t, serve.VerifyContentAddress(moreRefs, nar, sum[:]), "references are part of the path")
		})
	}
}

// forged is info under another name.
func forged(info serve.PathInfo) serve.PathInfo {
	dir := filepath.Dir(info.Path)
	info.Path = dir + "/" + strings.Repeat("0", 32) + info.Path[len(dir)+33:]
	return info
}

func forgedNoCA(info serve.PathInfo) serve.PathInfo {
	info.CA = ""
	return info
}
