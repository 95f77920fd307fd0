package drv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
)

// TestATermRoundTrip: each derivation of a chain Nix instantiated (with a
// multi-line script, quotes, tabs and backslashes in its arguments,
// environment and builder, two outputs, and a fixed output) renders back
// to its .drv file byte for byte, with the store path Nix gave it, and
// its outputs are where Nix put them.
func TestATermRoundTrip(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Skip("nix not installed")
	}
	store := t.TempDir()
	expr := `let
  sh = "` + nixtest.Sh + `";
  fixed = derivation { name = "rt-fixed"; system = "x86_64-linux"; builder = sh; args = [ "-c" "echo -n x > $out" ];
    outputHashMode = "flat"; outputHashAlgo = "sha256"; outputHash = builtins.hashString "sha256" "x"; };
  rfixed = derivation { name = "rt-rfixed"; system = "x86_64-linux"; builder = sh; args = [ "-c" "echo -n y > $out" ];
    outputHashMode = "recursive"; outputHashAlgo = "sha256"; outputHash = "1g7ljdbyq5gbnb2c0ivkb5m29jvkkfvpn4qdyyvr4ngjpx1aw79y"; };
  leaf = derivation { name = "rt-leaf"; system = "x86_64-linux"; builder = sh; outputs = [ "out" "dev" ];
    args = [ "-c" "echo a\necho \"b\"\t\\c > $out; ${fixed} ${rfixed}" ]; note = "x\ty\\"; };
in derivation { name = "rt-top"; system = "x86_64-linux"; builder = "${leaf.dev}/weird \"name\""; args = [ "${leaf}" ]; "odd\tkey" = "v"; }`
	out, err := exec.Command("nix-instantiate", "--store", store, "--expr", expr).Output()
	require.NoError(t, err)
	top := strings.TrimSpace(string(out))
	r := NewReader(store)
	seen := map[string]bool{}
	var walk func(p string)
	walk = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		d, err := r.Read(p)
		require.NoError(t, err)
		aterm, path, err := d.ATerm()
		require.NoError(t, err, p)
		want, err := os.ReadFile(filepath.Join(store, p))
		require.NoError(t, err)
		require.Equal(t, string(want), string(aterm), p)
		require.Equal(t, p, path)
		outs, err := r.ExpectedOutputs(d)
		require.NoError(t, err, p)
		require.Equal(t, d.Outputs, outs, p)
		for in := range d.InputDrvs {
			walk(in)
		}
	}
	walk(top)
	require.Len(t, seen, 4)
}

// TestATermRefuses: derivations go-nix cannot render are refused, not
// rendered wrong.
func TestATermRefuses(t *testing.T) {
	t.Parallel()
	base := func() *Derivation {
		return &Derivation{Outputs: map[string]string{"out": "/nix/store/" + strings.Repeat("a", 32) + "-x"}, System: "x86_64-linux",
			Builder: "/bin/sh", Env: map[string]string{"name": "x"}, InputDrvs: map[string][]string{}}
	}
	for name, mod := range map[string]func(d *Derivation){
		"structured attributes": func(d *Derivation) { d.Env["__json"] = `{"name":"x"}` },
		"no name":               func(d *Derivation) { delete(d.Env, "name") },
		"floating output":       func(d *Derivation) { d.Outputs["out"] = "" },
		"no outputs":            func(d *Derivation) { d.Outputs = nil },
		"bad input source":      func(d *Derivation) { d.InputSrcs = []string{`/nix/store/x"y`} },
		"bad input derivation":  func(d *Derivation) { d.InputDrvs = map[string][]string{"/tmp/x.drv": {"out"}} },
		"no platform":           func(d *Derivation) { d.System = "" },
	} {
		t.Run(name, func(t *testing.T) {
			d := base()
			mod(d)
			_, _, err := d.ATerm()
			require.Error(t, err)
		})
	}
}
