// Package evaluator implements the ports of commands/evaluation with the
// real tools: Inputs fetches jobset inputs (adapters/inputs for git, path
// and values; the read models for build and eval inputs; nix for flakes),
// Nix evaluates with adapters/nix/eval, Graph walks build graphs with
// adapters/nix/drv, and DB answers read-side questions from the Hydra
// tables.
package evaluator
