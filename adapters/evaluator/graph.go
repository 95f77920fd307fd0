package evaluator

import (
	"context"

	"buildledger/adapters/nix/drv"
	"buildledger/commands/evaluation"
	"buildledger/events"
)

// Graph implements evaluation.BuildGraph by reading .drv files and asking
// a store which outputs are valid.
type Graph struct {
	// Reader reads (and caches) derivations; nil means a Reader of the
	// real file system.
	Reader *drv.Reader
	// Store answers validity queries (the destination store).
	Store *drv.Store
}

var _ evaluation.BuildGraph = (*Graph)(nil)

// Plan implements evaluation.BuildGraph.
func (g *Graph) Plan(ctx context.Context, roots []string) ([]evaluation.Step, error) {
	r := g.Reader
	if r == nil {
		r = drv.NewReader("")
	}
	st := g.Store
	if st == nil {
		st = &drv.Store{}
	}
	gr, err := r.ClosureBatched(ctx, roots, st.ValidPaths)
	if err != nil {
		return nil, err
	}
	order := gr.Order()
	steps := make([]evaluation.Step, len(order))
	for i, p := range order {
		n := gr.Nodes[p]
		d := n.Drv
		s := evaluation.Step{DrvPath: p, System: d.System, InputDrvs: n.Deps,
			RequiredFeatures: d.RequiredSystemFeatures, PreferLocal: d.PreferLocalBuild}
		for _, name := range d.OutputNames() {
			s.Outputs = append(s.Outputs, events.Output{Name: name, Path: d.Outputs[name]})
		}
		steps[i] = s
	}
	return steps, nil
}
