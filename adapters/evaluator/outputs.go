package evaluator

import (
	"context"
	"os"

	"buildledger/commands/evaluation"
	"buildledger/domain/nixsupport"
	"buildledger/events"
)

// Outputs scrapes nix-support of outputs in the local store; it
// implements evaluation.OutputScanner.
type Outputs struct {
	// Root is the directory the store paths are under: "/" for the
	// machine's store, or a chroot store's directory.
	Root   string
	Limits nixsupport.Limits
}

var _ evaluation.OutputScanner = (*Outputs)(nil)

// Scan implements evaluation.OutputScanner.
func (o *Outputs) Scan(ctx context.Context, buildID int64, outputs []events.Output) (evaluation.Scanned, error) {
	root := o.Root
	if root == "" {
		root = "/"
	}
	outs := make([]nixsupport.Output, len(outputs))
	for i, out := range outputs {
		outs[i] = nixsupport.Output{Name: out.Name, Path: out.Path}
	}
	res, err := nixsupport.Scan(ctx, os.DirFS(root), outs, o.Limits)
	if err != nil {
		return evaluation.Scanned{}, err
	}
	sc := evaluation.Scanned{ReleaseName: res.ReleaseName, Failed: res.Failed}
	for i, p := range res.Products {
		sc.Products = append(sc.Products, p.Event(buildID, i+1))
	}
	for _, m := range res.Metrics {
		sc.Metrics = append(sc.Metrics, m.Event(buildID))
	}
	return sc, nil
}
