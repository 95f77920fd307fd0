package evaluator

import (
	"context"
	"time"

	"buildledger/adapters/nix/eval"
	"buildledger/commands/evaluation"
)

// Nix implements evaluation.Evaluator with adapters/nix/eval. Its fields
// are those of eval.Request that do not describe the jobset.
type Nix struct {
	// Timeout bounds one evaluation; zero means eval.DefaultTimeout.
	Timeout time.Duration
	// MaxMemoryMB bounds the evaluator's heap; zero means the default.
	MaxMemoryMB int
	// Workers is how many Nix processes run at once.
	Workers int
	// Backend selects nix-eval-jobs or nix-instantiate.
	Backend eval.Backend
	// GCRootsDir receives a GC root per job .drv.
	GCRootsDir string
	// AllowIFD allows import-from-derivation.
	AllowIFD bool
	// NixBinDir is where the Nix tools live; empty means PATH.
	NixBinDir string
	// AllowedURIs and AllowedPaths widen what a restricted evaluation may
	// fetch and read (eval.Request); the operator sets them, not jobsets.
	AllowedURIs  []string
	AllowedPaths []string
	// Identity is whom Nix runs as (eval.Request).
	Identity eval.Identity
	// Nice is the nice value Nix runs at (eval.Request).
	Nice int
}

var _ evaluation.Evaluator = (*Nix)(nil)

// Evaluate implements evaluation.Evaluator.
func (n *Nix) Evaluate(ctx context.Context, req evaluation.Request) (evaluation.Result, error) {
	er := eval.Request{NixExprInput: req.NixExprInput, NixExprPath: req.NixExprPath, Flake: req.Flake,
		Timeout: n.Timeout, MaxMemoryMB: n.MaxMemoryMB, Workers: n.Workers, Backend: n.Backend,
		GCRootsDir: n.GCRootsDir, AllowIFD: n.AllowIFD, NixBinDir: n.NixBinDir,
		AllowedURIs: n.AllowedURIs, AllowedPaths: n.AllowedPaths, Identity: n.Identity, Nice: n.Nice}
	if req.OnJob != nil {
		er.OnJob = req.OnJob
	}
	if req.Flake == "" {
		er.Inputs = make(map[string]eval.Input, len(req.Inputs))
		for _, in := range req.Inputs {
			er.Inputs[in.Name] = eval.InputOf(in)
		}
	}
	return eval.Evaluate(ctx, er)
}
