// Package workloads generates jobsets with the shape of nixpkgs' trunk
// jobset without using nixpkgs, for measuring the whole system at scale
// (issue #24): a bootstrap chain and an stdenv every package depends
// on, library dependencies with a long-tailed out-degree, multi-output
// derivations, a few failing and timing-out builds, aggregates over
// thousands of constituents, and builds that take milliseconds but print
// a few kB of log. The builders are the machine's static busybox copied
// into the store, so the jobset builds under Nix's default sandbox.
package workloads

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Params choose a workload's size and content.
type Params struct {
	// Jobs is the number of jobs (top-level attributes); the jobset has
	// about three derivations a job, as nixpkgs has.
	Jobs int
	// Seed makes the graph: the same seed gives the same graph.
	Seed uint64
	// Nonce goes into every derivation, so that a workload with a new
	// nonce has derivations no earlier run built.
	Nonce string
	// TimeoutSeconds is the meta.timeout of the jobs that time out.
	TimeoutSeconds int
}

// Kind is what a derivation stands for in nixpkgs' shape.
type Kind int

const (
	Bootstrap Kind = iota // a stage of the bootstrap chain
	Stdenv                // the standard environment every package uses
	Source                // a package's sources (nixpkgs: fetchurl)
	Hook                  // a package's setup hook or patches
	Package               // a package, a job
	Aggregate             // a Hydra aggregate over many packages, a job
)

// Mode is how a derivation's build ends.
type Mode int

const (
	Succeeds Mode = iota
	Fails         // exits 1 after printing its log
	TimesOut      // sleeps until its job's meta.timeout ends it
)

// Ref is a dependency: a node and one of its outputs.
type Ref struct {
	Node   int
	Output string
}

// Node is one derivation of the workload.
type Node struct {
	Name    string
	Kind    Kind
	Outputs []string
	Deps    []Ref
	Mode    Mode
	// Job is the attribute name when the node is a job, else "".
	Job string
	// Constituents are the nodes of an aggregate's constituents.
	Constituents []int
}

// Workload is a generated jobset.
type Workload struct {
	Params Params
	Nodes  []Node
}

// bootstrapStages is the length of the bootstrap chain before stdenv.
const bootstrapStages = 5

// Generate builds the graph of a workload of p.Jobs jobs (at least 10).
func Generate(p Params) (*Workload, error) {
	if p.Jobs < 10 {
		return nil, fmt.Errorf("a workload needs at least 10 jobs, not %d", p.Jobs)
	}
	if p.TimeoutSeconds <= 0 {
		p.TimeoutSeconds = 10
	}
	r := rand.New(rand.NewPCG(p.Seed, 0x6275696c646c6564))
	w := &Workload{Params: p}
	add := func(n Node) int {
		w.Nodes = append(w.Nodes, n)
		return len(w.Nodes) - 1
	}
	prev := -1
	for i := range bootstrapStages {
		n := Node{Name: fmt.Sprintf("bootstrap-stage%d", i), Kind: Bootstrap, Outputs: []string{"out"}}
		if prev >= 0 {
			n.Deps = []Ref{{prev, "out"}}
		}
		prev = add(n)
	}
	stdenv := add(Node{Name: "stdenv-linux", Kind: Stdenv, Outputs: []string{"out"}, Deps: []Ref{{prev, "out"}}, Job: "stdenv"})
	aggregates := 3
	packages := p.Jobs - 1 - aggregates
	// Library dependencies are drawn with a Zipf law over the packages
	// made so far, the earliest the most likely: a few packages (glibc,
	// zlib, openssl in nixpkgs) are inputs of most, most of none.
	pkgs := make([]int, 0, packages)
	dependents := map[int]int{}
	for i := range packages {
		name := fmt.Sprintf("pkg%d", i)
		src := add(Node{Name: name + "-src", Kind: Source, Outputs: []string{"out"}, Deps: []Ref{{0, "out"}}})
		hook := add(Node{Name: name + "-hook", Kind: Hook, Outputs: []string{"out"}, Deps: []Ref{{stdenv, "out"}}})
		n := Node{Name: name + "-1.0", Kind: Package, Outputs: []string{"out"}, Job: name,
			Deps: []Ref{{stdenv, "out"}, {src, "out"}, {hook, "out"}}}
		switch x := r.IntN(100); {
		case x < 10:
			n.Outputs = []string{"out", "dev", "lib"}
		case x < 15:
			n.Outputs = []string{"out", "bin", "man"}
		}
		if i > 0 {
			z := rand.NewZipf(r, 1.2, 2, uint64(i-1))
			k := min(i, r.IntN(5)+r.IntN(3)) // 0–6 libraries, 3 on average
			seen := map[int]bool{}
			for range k {
				j := pkgs[z.Uint64()]
				if seen[j] {
					continue
				}
				seen[j] = true
				dependents[j]++
				outs := w.Nodes[j].Outputs
				n.Deps = append(n.Deps, Ref{j, outs[r.IntN(len(outs))]})
			}
		}
		pkgs = append(pkgs, add(n))
	}
	// Failures and timeouts are leaf packages, as most of nixpkgs'
	// failures are: 1% fail, a few (one per 30,000 jobs) time out.
	var leaves []int
	for _, j := range pkgs {
		if dependents[j] == 0 {
			leaves = append(leaves, j)
		}
	}
	r.Shuffle(len(leaves), func(a, b int) { leaves[a], leaves[b] = leaves[b], leaves[a] })
	fails, timeouts := max(1, p.Jobs/100), max(1, p.Jobs/30000)
	for i, j := range leaves[:min(len(leaves), fails+timeouts)] {
		w.Nodes[j].Mode = Fails
		if i >= fails {
			w.Nodes[j].Mode = TimesOut
		}
	}
	// Aggregates over thousands of constituents at nixpkgs' size (a
	// fortieth of the jobs each), all of them packages that succeed.
	var good []int
	for _, j := range pkgs {
		if w.Nodes[j].Mode == Succeeds {
			good = append(good, j)
		}
	}
	size := min(len(good), max(10, p.Jobs/40))
	for a := range aggregates {
		cs := slices.Clone(good)
		r.Shuffle(len(cs), func(x, y int) { cs[x], cs[y] = cs[y], cs[x] })
		cs = cs[:size]
		slices.Sort(cs)
		n := Node{Name: fmt.Sprintf("tested-%d", a), Kind: Aggregate, Outputs: []string{"out"}, Job: fmt.Sprintf("tested%d", a),
			Constituents: cs}
		for _, c := range cs {
			n.Deps = append(n.Deps, Ref{c, "out"})
		}
		add(n)
	}
	return w, nil
}

// Count returns the jobs, and how many jobs are expected to fail and to
// time out.
func (w *Workload) Count() (jobs, failing, timingOut int) {
	for _, n := range w.Nodes {
		if n.Job == "" {
			continue
		}
		jobs++
		switch n.Mode {
		case Fails:
			failing++
		case TimesOut:
			timingOut++
		}
	}
	return jobs, failing, timingOut
}
