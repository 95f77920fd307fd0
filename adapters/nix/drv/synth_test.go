package drv

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nix-community/go-nix/pkg/nixbase32"
	"github.com/stretchr/testify/require"
)

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }

func fakePath(name string) string {
	h := sha256.Sum256([]byte(name))
	return "/nix/store/" + nixbase32.EncodeToString(h[:20]) + "-" + name
}

// writeSynthetic writes a .drv in ATerm form named name with the given input
// drvs under root and returns its store path.
func writeSynthetic(t testing.TB, root, name string, inputs []string) string {
	out := fakePath(name)
	var ins []string
	for _, in := range inputs {
		ins = append(ins, fmt.Sprintf("(%q,[\"out\"])", in))
	}
	text := fmt.Sprintf("Derive([(\"out\",%q,\"\",\"\")],[%s],[],\"x86_64-linux\",\"/bin/sh\",[],[(\"name\",%q),(\"out\",%q)])",
		out, strings.Join(ins, ","), name, out)
	p := fakePath(name + ".drv")
	if err := os.WriteFile(filepath.Join(root, p), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClosureLargeSharedChain(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "nix/store"), 0o755))

	// A chain of 2,000 derivations, and 10,000 roots each depending on the
	// chain's tip; chain[0]'s output counts as valid.
	chain := make([]string, 2000)
	for i := range chain {
		var in []string
		if i > 0 {
			in = []string{chain[i-1]}
		}
		chain[i] = writeSynthetic(t, root, fmt.Sprintf("chain-%d", i), in)
	}
	roots := make([]string, 10000)
	for i := range roots {
		roots[i] = writeSynthetic(t, root, fmt.Sprintf("root-%d", i), []string{chain[len(chain)-1]})
	}
	validOut := fakePath("chain-0")
	calls := 0

	start := time.Now()
	r := NewReader(root)
	g, err := r.ClosureBatched(context.Background(), roots, func(_ context.Context, paths []string) (map[string]bool, error) {
		calls++
		m := map[string]bool{}
		for _, p := range paths {
			m[p] = p == validOut
		}
		return m, nil
	})
	elapsed := time.Since(start)
	require.NoError(t, err)
	require.Len(t, g.Nodes, len(roots)+len(chain)-1)
	require.Len(t, g.Roots, len(roots))
	require.NotContains(t, g.Nodes, chain[0])
	require.Empty(t, g.Nodes[chain[1]].Deps)
	require.Equal(t, []string{chain[len(chain)-1]}, g.Nodes[roots[42]].Deps)
	require.Less(t, elapsed, 5*time.Second, "walk took %s", elapsed)
	require.Equal(t, len(chain)+1, calls) // one call per level: the roots, then each chain link

	order := g.Order()
	require.Len(t, order, len(g.Nodes))
	pos := map[string]int{}
	for i, p := range order {
		pos[p] = i
	}
	for p, n := range g.Nodes {
		for _, d := range n.Deps {
			require.Less(t, pos[d], pos[p])
		}
	}

	// Second walk is served from cache and is faster still.
	start = time.Now()
	_, err = r.Closure(context.Background(), roots, func([]string) (bool, error) { return false, nil })
	require.NoError(t, err)
	t.Logf("first walk %s, cached walk %s", elapsed, time.Since(start))
}

func TestClosureCancelled(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "nix/store"), 0o755))
	p := writeSynthetic(t, root, "x", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewReader(root).Closure(ctx, []string{p}, func([]string) (bool, error) { return false, nil })
	require.ErrorIs(t, err, context.Canceled)
}

// TestPlannerAdds plans roots in three Adds: each returns only the
// derivations no earlier Add returned, in dependency order, with edges to
// earlier ones kept; valid derivations are asked about once.
func TestPlannerAdds(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "nix/store"), 0o755))
	base := writeSynthetic(t, root, "base", nil) // valid
	lib := writeSynthetic(t, root, "lib", []string{base})
	a := writeSynthetic(t, root, "a", []string{lib})
	b := writeSynthetic(t, root, "b", sorted(lib, base))
	c1 := writeSynthetic(t, root, "c1", nil)
	c := writeSynthetic(t, root, "c", sorted(c1, a))
	asked := map[string]int{}
	p := NewReader(root).NewPlanner(func(_ context.Context, paths []string) (map[string]bool, error) {
		m := map[string]bool{}
		for _, o := range paths {
			asked[o]++
			m[o] = o == fakePath("base")
		}
		return m, nil
	})
	type node struct {
		drv  string
		deps []string
	}
	plan := func(roots ...string) []node {
		g, err := p.Add(context.Background(), roots)
		require.NoError(t, err)
		var out []node
		for _, d := range g.Order() {
			out = append(out, node{d, g.Nodes[d].Deps})
		}
		return out
	}
	require.Equal(t, []node{{lib, nil}, {a, []string{lib}}}, plan(a))
	require.Equal(t, []node{{b, []string{lib}}}, plan(b, a))
	require.Equal(t, []node{{c1, nil}, {c, sorted(a, c1)}}, plan(c))
	require.Empty(t, plan(a, b, c, base))
	require.Equal(t, 1, asked[fakePath("base")])
}

func sorted(s ...string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

// TestReadKeepsNoFile: a string kept from a parsed derivation does not
// keep the file it was read from (go-nix's strings point into it).
func TestReadKeepsNoFile(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "nix/store"), 0o755))
	in := fakePath("input.drv")
	big := strings.Repeat("x", 1<<20)
	var kept []string
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	for i := range 8 {
		name := fmt.Sprint("big", i)
		out := fakePath(name)
		text := fmt.Sprintf("Derive([(\"out\",%q,\"\",\"\")],[(%q,[\"out\"])],[],\"x86_64-linux\",\"/bin/sh\",[],[(\"big\",%q),(\"name\",%q),(\"out\",%q)])",
			out, in, big, name, out)
		p := fakePath(name + ".drv")
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(text), 0o644))
		d, err := NewReader(root).Read(p)
		require.NoError(t, err)
		for k := range d.InputDrvs {
			kept = append(kept, k)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	require.Less(t, int64(ms.HeapAlloc)-int64(base), int64(1<<20), "8 files of 1 MB read, only their input paths kept")
	runtime.KeepAlive(kept)
}
