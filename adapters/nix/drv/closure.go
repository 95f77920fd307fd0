package drv

import (
	"context"
	"fmt"
	"runtime"
	"sort"
)

// Graph is the build graph of a set of root derivations: every derivation in
// their input closure whose outputs are not all valid, with edges to the input
// derivations that also need building.
type Graph struct {
	// Roots are the root derivations that need building, in the order given.
	Roots []string
	// Nodes holds every derivation that needs building, by .drv path.
	Nodes map[string]*Node
}

// Node is one derivation of a Graph.
type Node struct {
	Drv *Derivation
	// Deps are the input derivations that are themselves in the graph
	// (not yet built), sorted.
	Deps []string
}

// ValidFunc reports whether all of a derivation's output paths are valid.
type ValidFunc func(outputs []string) (bool, error)

// BatchValidFunc reports the validity of many store paths at once; its
// signature matches Store.ValidPaths.
type BatchValidFunc func(ctx context.Context, paths []string) (map[string]bool, error)

// Closure walks the input-derivation closure of roots, reading .drv files from
// the real file system, and returns the build graph. It does not descend into
// derivations whose outputs isValid reports valid.
func Closure(ctx context.Context, roots []string, isValid ValidFunc) (Graph, error) {
	return NewReader("").Closure(ctx, roots, isValid)
}

// Closure is the package function Closure using r's cache and root.
func (r *Reader) Closure(ctx context.Context, roots []string, isValid ValidFunc) (Graph, error) {
	return r.walk(ctx, roots, func(ctx context.Context, level []*Derivation) ([]bool, error) {
		res := make([]bool, len(level))
		for i, d := range level {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			ok, err := isValid(d.OutputPaths())
			if err != nil {
				return nil, fmt.Errorf("validity of %s: %w", d.Path, err)
			}
			res[i] = ok
		}
		return res, nil
	})
}

// ClosureBatched is Closure with one validity query per level of the walk,
// which suits Store.ValidPaths: a few nix-store calls instead of one per
// derivation.
func (r *Reader) ClosureBatched(ctx context.Context, roots []string, valid BatchValidFunc) (Graph, error) {
	return r.NewPlanner(valid).Add(ctx, roots)
}

func allValid(d *Derivation, m map[string]bool) bool {
	for _, p := range d.Outputs {
		if p == "" || !m[p] {
			return false
		}
	}
	return true
}

type levelValidity func(ctx context.Context, level []*Derivation) ([]bool, error)

// walk does a breadth-first walk, one level at a time: read the level's
// derivations concurrently, decide validity, and queue the inputs of the
// invalid ones that were not seen yet.
func (r *Reader) walk(ctx context.Context, roots []string, valid levelValidity) (Graph, error) {
	return r.planner(valid).Add(ctx, roots)
}

// Planner walks the build graph of one set of roots given a few at a time,
// as an evaluation finds its jobs: each Add walks only what earlier Adds
// did not reach.
type Planner struct {
	r     *Reader
	valid levelValidity
	// seen holds every derivation reached so far, planned or valid;
	// planned the planned ones. Neither keeps a derivation: the graphs
	// Add returns do, for as long as their caller holds them.
	seen    map[string]bool
	planned map[string]bool
}

// NewPlanner returns a Planner that reads derivations with r and asks
// valid, once per level of each walk, which outputs are valid.
func (r *Reader) NewPlanner(valid BatchValidFunc) *Planner {
	return r.planner(func(ctx context.Context, level []*Derivation) ([]bool, error) {
		var paths []string
		for _, d := range level {
			paths = append(paths, d.OutputPaths()...)
		}
		m, err := valid(ctx, paths)
		if err != nil {
			return nil, fmt.Errorf("output validity: %w", err)
		}
		res := make([]bool, len(level))
		for i, d := range level {
			res[i] = allValid(d, m)
		}
		return res, nil
	})
}

func (r *Reader) planner(valid levelValidity) *Planner {
	return &Planner{r: r, valid: valid, seen: map[string]bool{}, planned: map[string]bool{}}
}

// Add walks the input closure of roots and returns the derivations in it
// that need building and that no earlier Add returned. Their Deps name
// every input that needs building, including those returned before; the
// graph's Roots are the roots it holds.
func (p *Planner) Add(ctx context.Context, roots []string) (Graph, error) {
	g := Graph{Nodes: map[string]*Node{}}
	var level []string
	for _, d := range roots {
		if !p.seen[d] {
			p.seen[d] = true
			level = append(level, d)
		}
	}
	workers := runtime.GOMAXPROCS(0) * 2
	for len(level) > 0 {
		drvs, err := p.r.readAll(ctx, level, workers)
		if err != nil {
			return Graph{}, err
		}
		ok, err := p.valid(ctx, drvs)
		if err != nil {
			return Graph{}, err
		}
		var next []string
		for i, d := range drvs {
			if ok[i] {
				continue
			}
			g.Nodes[d.Path], p.planned[d.Path] = &Node{Drv: d}, true
			for in := range d.InputDrvs {
				if !p.seen[in] {
					p.seen[in] = true
					next = append(next, in)
				}
			}
		}
		sort.Strings(next)
		level = next
	}
	for _, n := range g.Nodes {
		for in := range n.Drv.InputDrvs {
			if p.planned[in] {
				n.Deps = append(n.Deps, in)
			}
		}
		sort.Strings(n.Deps)
	}
	for _, d := range roots {
		if _, ok := g.Nodes[d]; ok && !contains(g.Roots, d) {
			g.Roots = append(g.Roots, d)
		}
	}
	return g, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Order returns the graph's derivations in dependency order: every
// derivation after all of its Deps. Ties are broken by path.
func (g Graph) Order() []string {
	indeg := make(map[string]int, len(g.Nodes))
	rdeps := make(map[string][]string, len(g.Nodes))
	for p, n := range g.Nodes {
		for _, d := range n.Deps {
			if _, ok := g.Nodes[d]; ok {
				// A dependency outside the graph (returned by an earlier
				// Planner.Add) is already in order.
				indeg[p]++
				rdeps[d] = append(rdeps[d], p)
			}
		}
	}
	var ready []string
	for p := range g.Nodes {
		if indeg[p] == 0 {
			ready = append(ready, p)
		}
	}
	sort.Strings(ready)
	out := make([]string, 0, len(g.Nodes))
	for len(ready) > 0 {
		p := ready[0]
		ready = ready[1:]
		out = append(out, p)
		var newly []string
		for _, q := range rdeps[p] {
			indeg[q]--
			if indeg[q] == 0 {
				newly = append(newly, q)
			}
		}
		sort.Strings(newly)
		ready = append(ready, newly...)
	}
	return out
}
