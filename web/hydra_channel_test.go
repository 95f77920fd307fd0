package web_test

import (
	"archive/tar"
	"compress/bzip2"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/binarycache"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/web"
)

// TestHydraChannelRoutes fetches channels as nix-channel does: the
// nixexprs.tar.bz2 of every scope and of an evaluation, and the
// evaluation's store paths; then nix-env reads the channel's expression
// as in Hydra's Jobset/channel.t.
func TestHydraChannelRoutes(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *web.Config) { c.Bzip2 = binarycache.NewBzip2Writer }})
	// Build 4 (job gone, eval 1) is a nix-build; so is build 1 under a
	// nested attribute name with a hostile release name.
	e.appendEvents(streams.Build(4), events.ProductScraped{BuildID: 4, ProductNr: 1, Type: "nix-build", Path: out("gone-4")})
	e.appendEvents(streams.Build(1), events.ProductScraped{BuildID: 1, ProductNr: 5, Type: "nix-build", Path: out("hello-1")})
	e.catchUp()
	_, err := e.pool.Exec(e.ctx, `update builds set releasename = 'evil-${builtins.abort "x"}"' where id = 1`)
	require.NoError(t, err)
	c := e.anon()

	unpack := func(t *testing.T, path string) map[string]string {
		res := c.do("GET", path, nil)
		require.Equal(t, 200, res.code, res.body)
		require.Equal(t, "application/x-bzip2", res.header.Get("Content-Type"))
		tr := tar.NewReader(bzip2.NewReader(strings.NewReader(res.body)))
		files := map[string]string{}
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			files[h.Name] = string(b)
		}
		return files
	}
	for path, name := range map[string]string{
		"/channel/latest/nixexprs.tar.bz2":              "everything-latest",
		"/project/p/channel/latest/nixexprs.tar.bz2":    "p-latest",
		"/jobset/p/j/channel/latest/nixexprs.tar.bz2":   "p-j-latest",
		"/job/p/j/gone/channel/latest/nixexprs.tar.bz2": "p-j-gone-latest",
		"/eval/1/channel/nixexprs.tar.bz2":              "p-j-latest",
	} {
		t.Run(path, func(t *testing.T) {
			files := unpack(t, path)
			require.Equal(t, name, files["channel/channel-name"])
			require.Contains(t, files["channel/default.nix"], `"gone" = (mkFakeDerivation`)
			require.Contains(t, files["channel/default.nix"], `"out" = "`+out("gone-4")+`";`)
		})
	}
	files := unpack(t, "/eval/1/channel/nixexprs.tar.bz2")
	require.Contains(t, files["channel/default.nix"], `name = "evil-\${builtins.abort \"x\"}\"";`, "Nix strings escaped")
	require.NotContains(t, unpack(t, "/job/p/j/gone/channel/latest/nixexprs.tar.bz2")["channel/default.nix"], "hello")

	res := c.do("GET", "/eval/1/store-paths", nil)
	require.Equal(t, 200, res.code)
	require.Equal(t, "application/json", res.header.Get("Content-Type"))
	require.JSONEq(t, `["`+out("gone-4")+`","`+out("hello-1")+`"]`, res.body)
	require.JSONEq(t, `[]`, c.do("GET", "/eval/2/store-paths", nil).body)
	require.Equal(t, 404, c.do("GET", "/eval/99/store-paths", nil).code)
	require.Equal(t, 404, c.do("GET", "/jobset/p/nope/channel/latest/nixexprs.tar.bz2", nil).code)
	res = c.do("GET", "/eval/1/channel", nil)
	require.Equal(t, 200, res.code)
	require.Contains(t, res.body, `"job":"gone"`)

	nixEnv, err := exec.LookPath("nix-env")
	if err != nil {
		t.Skip("nix-env not installed")
	}
	dir := t.TempDir()
	expr := filepath.Join(dir, "default.nix")
	require.NoError(t, os.WriteFile(expr, []byte(files["channel/default.nix"]), 0o644))
	cmd := exec.Command(nixEnv, "--json", "--query", "--available", "--attr-path", "--file", expr, "--argstr", "system", "x86_64-linux")
	cmd.Env = append(os.Environ(), "HOME="+dir, "NIX_STATE_DIR="+dir+"/state", "NIX_REMOTE=local?root="+dir+"/root")
	outb, err := cmd.Output()
	require.NoError(t, err, "%s", outb)
	var pkgs map[string]struct {
		Name string `json:"name"`
	}
	require.NoError(t, json.Unmarshal(outb, &pkgs))
	require.Equal(t, "gone-1.0", pkgs["gone"].Name)
	require.Equal(t, `evil-${builtins.abort "x"}"`, pkgs["hello"].Name)
}
