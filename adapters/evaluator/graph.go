package evaluator

import (
	"context"
	"sync"

	"buildledger/adapters/nix/drv"
	"buildledger/commands/evaluation"
	"buildledger/events"
)

// Graph implements evaluation.BuildGraph by reading .drv files and asking
// a store which outputs are valid.
type Graph struct {
	// Root is prepended to store paths to find the .drv files (as
	// drv.Reader's Root); empty means the real file system.
	Root string
	// Store answers validity queries (the destination store).
	Store *drv.Store
	// ValidityWorkers is how many validity queries run at once when one
	// level of the walk has more paths than one query takes; zero means
	// DefaultValidityWorkers.
	ValidityWorkers int
}

// DefaultValidityWorkers is the default of Graph.ValidityWorkers: most of a
// nix-store query is its start-up, which overlaps well.
const DefaultValidityWorkers = 4

// defaultValidityBatch is the number of paths drv.Store puts into one
// nix-store call when its Batch is zero; minValidityPart the fewest paths
// worth a call of their own.
const (
	defaultValidityBatch = 2000
	minValidityPart      = 500
)

var _ evaluation.BuildGraph = (*Graph)(nil)

// planReaderKeeps bounds the derivations a plan's reader keeps: those of
// the level being walked, which its readers share.
const planReaderKeeps = 4096

// NewPlan implements evaluation.BuildGraph.
func (g *Graph) NewPlan() evaluation.Plan {
	st := g.Store
	if st == nil {
		st = &drv.Store{}
	}
	workers := g.ValidityWorkers
	if workers <= 0 {
		workers = DefaultValidityWorkers
	}
	// A Reader of its own, bounded: the planner reads each derivation of
	// the evaluation once, and keeping them all held 3.6 kB a
	// derivation until the evaluation's end (108 MB at 10,000 jobs).
	return plan{drv.NewBoundedReader(g.Root, planReaderKeeps).NewPlanner(concurrentValidity(st, workers, minValidityPart))}
}

// plan implements evaluation.Plan with a drv.Planner.
type plan struct{ p *drv.Planner }

// Add implements evaluation.Plan.
func (p plan) Add(ctx context.Context, roots []string) ([]evaluation.Step, error) {
	gr, err := p.p.Add(ctx, roots)
	if err != nil {
		return nil, err
	}
	order := gr.Order()
	steps := make([]evaluation.Step, len(order))
	for i, path := range order {
		n := gr.Nodes[path]
		d := n.Drv
		s := evaluation.Step{DrvPath: path, System: d.System, InputDrvs: n.Deps, InputSrcs: d.InputSrcs,
			RequiredFeatures: d.RequiredSystemFeatures, PreferLocal: d.PreferLocalBuild}
		for _, name := range d.OutputNames() {
			s.Outputs = append(s.Outputs, events.Output{Name: name, Path: d.Outputs[name]})
		}
		steps[i] = s
	}
	return steps, nil
}

// concurrentValidity returns st.ValidPaths with a query of more than
// minPart paths split into parts of at least minPart paths and at most
// one nix-store call each, workers of them at a time.
func concurrentValidity(st *drv.Store, workers, minPart int) drv.BatchValidFunc {
	batch := st.Batch
	if batch <= 0 {
		batch = defaultValidityBatch
	}
	return func(ctx context.Context, paths []string) (map[string]bool, error) {
		size := min(batch, max(minPart, (len(paths)+workers-1)/workers))
		if len(paths) <= size {
			return st.ValidPaths(ctx, paths)
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var (
			parts [][]string
			wg    sync.WaitGroup
			mu    sync.Mutex
			first error
		)
		for len(paths) > 0 {
			k := min(size, len(paths))
			parts = append(parts, paths[:k])
			paths = paths[k:]
		}
		valid := make(map[string]bool)
		sem := make(chan struct{}, workers)
		for _, part := range parts {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				m, err := st.ValidPaths(ctx, part)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if first == nil {
						first = err
						cancel()
					}
					return
				}
				for p, ok := range m {
					valid[p] = ok
				}
			}()
		}
		wg.Wait()
		if first != nil {
			return nil, first
		}
		return valid, nil
	}
}
