package drv

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
)

// instantiate evaluates a Nix expression with nix-instantiate and returns the
// .drv paths it prints.
func instantiate(t *testing.T, expr string) []string {
	t.Helper()
	out, err := exec.Command("nix-instantiate", "--expr", expr).Output()
	require.NoError(t, err, "nix-instantiate %s", expr)
	return strings.Fields(string(out))
}

// noSubstitutes keeps nix-store from trying cache.nixos.org (no network here).
var noSubstitutes = []string{"--option", "substituters", ""}

// nonce makes derivations unique per test run so outputs start out invalid.
func nonce() string { return fmt.Sprintf("%d", time.Now().UnixNano()) }

func TestRead(t *testing.T) {
	n := nonce()
	tests := []struct {
		name  string
		expr  string
		check func(t *testing.T, d *Derivation)
	}{
		{
			name: "plain with features",
			expr: `derivation { name = "plain"; system = "x86_64-linux"; builder = "` + nixtest.Sh + `"; args = ["sh" "-c" "echo > $out"];
				requiredSystemFeatures = ["kvm" "big-parallel"]; preferLocalBuild = true; nonce = "` + n + `"; }`,
			check: func(t *testing.T, d *Derivation) {
				require.Equal(t, "x86_64-linux", d.System)
				require.True(t, strings.HasSuffix(d.Builder, "-busybox/busybox"), d.Builder)
				require.Equal(t, []string{"sh", "-c", "echo > $out"}, d.Args)
				require.Equal(t, []string{"big-parallel", "kvm"}, d.RequiredSystemFeatures)
				require.True(t, d.PreferLocalBuild)
				require.Equal(t, []string{"out"}, d.OutputNames())
				require.True(t, strings.HasSuffix(d.Outputs["out"], "-plain"))
				require.Equal(t, d.Outputs["out"], d.Env["out"])
				require.Empty(t, d.InputDrvs)
				require.False(t, d.IsFixedOutput())
			},
		},
		{
			name: "multiple outputs",
			expr: `derivation { name = "multi"; system = "x86_64-linux"; builder = "` + nixtest.Sh + `"; outputs = ["out" "dev"]; nonce = "` + n + `"; }`,
			check: func(t *testing.T, d *Derivation) {
				require.Equal(t, []string{"dev", "out"}, d.OutputNames())
				require.Len(t, d.OutputPaths(), 2)
				require.False(t, d.PreferLocalBuild)
				require.Nil(t, d.RequiredSystemFeatures)
			},
		},
		{
			name: "fixed output",
			expr: `derivation { name = "fixed"; system = "x86_64-linux"; builder = "` + nixtest.Sh + `"; outputHashMode = "flat"; outputHashAlgo = "sha256";
				outputHash = "0000000000000000000000000000000000000000000000000000000000000000"; }`,
			check: func(t *testing.T, d *Derivation) {
				require.True(t, d.IsFixedOutput())
				require.Equal(t, "sha256", d.FixedOutputs["out"].HashAlgo)
				require.Equal(t, strings.Repeat("0", 64), d.FixedOutputs["out"].Hash)
			},
		},
		{
			name: "with input derivation and source",
			expr: `let dep = derivation { name = "dep"; system = "x86_64-linux"; builder = "` + nixtest.Sh + `"; nonce = "` + n + `"; };
				in derivation { name = "top"; system = "x86_64-linux"; builder = "` + nixtest.Sh + `"; args = [ "${dep}" ]; src = builtins.toFile "src.txt" "hi"; }`,
			check: func(t *testing.T, d *Derivation) {
				require.Len(t, d.InputDrvs, 1)
				for p, outs := range d.InputDrvs {
					require.True(t, strings.HasSuffix(p, "-dep.drv"))
					require.Equal(t, []string{"out"}, outs)
				}
				require.Len(t, d.InputSrcs, 2, "the builder's busybox and src.txt")
				var names []string
				for _, p := range d.InputSrcs {
					names = append(names, p[strings.Index(p, "-")+1:])
				}
				require.ElementsMatch(t, []string{"busybox", "src.txt"}, names)
				in, err := NewReader("").InputPaths(d)
				require.NoError(t, err)
				require.Len(t, in, 3, "the sources and dep's output")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := instantiate(t, tt.expr)[0]
			d, err := Read(p)
			require.NoError(t, err)
			require.Equal(t, p, d.Path)
			tt.check(t, d)
		})
	}
}

func TestReadErrors(t *testing.T) {
	_, err := Read("/nonexistent/x.drv")
	require.Error(t, err)
	dir := t.TempDir()
	p := dir + "/bad.drv"
	require.NoError(t, writeFile(p, "Derive(garbage"))
	_, err = Read(p)
	require.ErrorContains(t, err, "parse derivation")
}

func TestClosureRealStore(t *testing.T) {
	ctx := context.Background()
	n := nonce()
	expr := `let
		a = derivation { name = "a"; system = builtins.currentSystem; builder = "` + nixtest.Sh + `"; args = ["sh" "-c" "echo a > $out"]; nonce = "` + n + `"; };
		b = derivation { name = "b"; system = builtins.currentSystem; builder = "` + nixtest.Sh + `"; args = ["sh" "-c" "echo ${a} > $out"]; };
		c = derivation { name = "c"; system = builtins.currentSystem; builder = "` + nixtest.Sh + `"; args = ["sh" "-c" "echo ${a} ${b} > $out"]; };
		in c`
	root := instantiate(t, expr)[0]
	s := Store{Args: noSubstitutes}
	r := NewReader("")

	g, err := r.ClosureBatched(ctx, []string{root}, s.ValidPaths)
	require.NoError(t, err)
	require.Len(t, g.Nodes, 3)
	require.Equal(t, []string{root}, g.Roots)
	order := g.Order()
	require.Len(t, order, 3)
	require.True(t, strings.HasSuffix(order[0], "-a.drv"))
	require.True(t, strings.HasSuffix(order[1], "-b.drv"))
	require.Equal(t, root, order[2])
	require.Len(t, g.Nodes[root].Deps, 2)
	require.Len(t, g.Nodes[order[1]].Deps, 1)

	// Build a; then only b and c remain, and c's edges drop a.
	_, err = s.Realise(ctx, order[0])
	require.NoError(t, err)
	g, err = r.Closure(ctx, []string{root}, s.OutputsValid(ctx))
	require.NoError(t, err)
	require.Len(t, g.Nodes, 2)
	require.Equal(t, []string{order[1]}, g.Nodes[root].Deps)

	// Build everything: nothing to do.
	_, err = s.Realise(ctx, root)
	require.NoError(t, err)
	g, err = r.ClosureBatched(ctx, []string{root}, s.ValidPaths)
	require.NoError(t, err)
	require.Empty(t, g.Nodes)
	require.Empty(t, g.Roots)
}

func TestClosureValidityError(t *testing.T) {
	root := instantiate(t, `derivation { name = "e"; system = "x86_64-linux"; builder = "`+nixtest.Sh+`"; }`)[0]
	_, err := Closure(context.Background(), []string{root}, func([]string) (bool, error) {
		return false, fmt.Errorf("boom")
	})
	require.ErrorContains(t, err, "boom")
}
