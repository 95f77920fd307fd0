// Package eval evaluates Hydra jobsets with real Nix.
//
// A legacy jobset is a release expression (a file inside an input) called
// with the jobset's inputs as arguments; a flake jobset is a flake's
// hydraJobs, else its checks. Either way every derivation in the resulting
// attribute set is a job named by its dotted attribute path; nested sets are
// descended (with or without recurseForDerivations), derivations are not.
// A job (or a set on the way to jobs) that is a function with formals is
// called with the jobset's inputs, as nix-eval-jobs auto-calls it; a
// function without formals is no job.
// The .drv files of all jobs are written to the Nix store.
//
// Two backends exist. nix-eval-jobs, Hydra's evaluator, is used when it is
// on PATH (Debian does not package it; its JSON-lines output is parsed as
// documented). Otherwise nix-instantiate --eval --strict --json
// --read-write-mode walks the jobset with an embedded Nix expression
// (walker.nix), so the .drv files are written to the store as a side effect
// of forcing drvPath; Request.Workers such processes each take a share of
// the top-level attributes. Every attribute is evaluated under
// builtins.tryEval, which catches throw and assert; the message of such an
// error is then obtained by evaluating that attribute alone. Errors tryEval
// cannot catch (abort, type errors, missing attributes, IFD refused) kill
// the process: the walk is then repeated with trace marks on stderr that
// name each attribute before it is evaluated and carry each finished record,
// so the culprit gets Nix's message as its job error, finished records are
// kept, and the next round skips both. Each round settles at least one
// attribute. nix-instantiate writes its JSON output while it forces the
// records (through a 4 KiB buffer), and the records are decoded as they
// come, so Request.OnJob learns of jobs while Nix goes on.
//
// Limits: the whole evaluation runs under Request.Timeout (the process
// group is killed, ErrTimeout is returned); each Nix process gets
// GC_MAXIMUM_HEAP_SIZE = MaxMemoryMB (Nix reports "out of memory") and an
// address-space rlimit of 2×MaxMemoryMB+2 GiB as a backstop; NIX_PATH is
// empty; import-from-derivation is refused unless Request.AllowIFD.
//
// Confinement: Nix gets a scrubbed environment (runner.env), evaluates a
// legacy jobset in restricted mode with its inputs on the search path, as
// Hydra does, and a flake in pure mode (Request.sandboxArgs); the store
// paths an evaluation reports are checked to be store paths before they
// reach a caller.
//
// Deviations from Hydra: the release function and function jobs are called
// with the inputs they name (the release function with all inputs when it
// takes none by name) — a function with formals and "..." does not receive
// undeclared inputs; without nix-eval-jobs,
// flakes are evaluated with builtins.getFlake on the locked URL, the
// walker given inline (pure mode reads no file outside fetched sources).
package eval

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"buildledger/commands/evaluation"
)

// Evaluate evaluates the jobset described by req. A failure of the whole
// evaluation (syntax error, missing file, bad argument, timeout) is returned
// as an error carrying Nix's message; failures of single jobs are in
// Result.Errors. The jobs and the result are the evaluator port's types
// (commands/evaluation), which this package implements with Nix.
func Evaluate(ctx context.Context, req Request) (evaluation.Result, error) {
	start := time.Now()
	exprFile, err := req.validate()
	if err != nil {
		return evaluation.Result{}, fmt.Errorf("evaluation request: %w", err)
	}
	if exprFile != "" {
		if _, err := os.Stat(exprFile); err != nil {
			return evaluation.Result{}, fmt.Errorf("nix expression %s of input %s: %w", req.NixExprPath, req.NixExprInput, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, req.timeout())
	defer cancel()
	dir, err := os.MkdirTemp("", "buildledger-eval-")
	if err != nil {
		return evaluation.Result{}, fmt.Errorf("eval temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := req.Identity.Chown(dir); err != nil {
		return evaluation.Result{}, fmt.Errorf("eval temp dir: %w", err)
	}
	r := &runner{req: req, deadline: start.Add(req.timeout()), dir: dir}
	var jobs *notifier
	if req.OnJob != nil {
		jobs = startNotifier(req.OnJob)
		defer jobs.close()
	}

	var res evaluation.Result
	if req.Flake != "" {
		locked, err := lockFlake(ctx, r, req.Flake)
		if err != nil {
			return evaluation.Result{}, err
		}
		res.FlakeURL = locked
	}

	var recs []record
	if useNixEvalJobs(req) {
		recs, err = evalWithNixEvalJobs(ctx, r, jobs, exprFile, res.FlakeURL)
	} else {
		recs, err = evalWithInstantiate(ctx, r, jobs, exprFile, res.FlakeURL)
	}
	if err != nil {
		return evaluation.Result{}, err
	}
	assemble(&res, recs)
	if req.GCRootsDir != "" {
		if err := addGCRoots(req.GCRootsDir, res.Jobs); err != nil {
			return evaluation.Result{}, err
		}
	}
	return res, nil
}

func useNixEvalJobs(req Request) bool {
	switch req.Backend {
	case BackendNixEvalJobs:
		return true
	case BackendInstantiate:
		return false
	}
	_, err := exec.LookPath(req.bin("nix-eval-jobs"))
	return err == nil
}

// addGCRoots links every job's .drv from dir.
func addGCRoots(dir string, jobs []evaluation.Job) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gc roots dir: %w", err)
	}
	for _, j := range jobs {
		link := filepath.Join(dir, filepath.Base(j.DrvPath))
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(j.DrvPath, link); err != nil {
			return fmt.Errorf("gc root for %s: %w", j.DrvPath, err)
		}
	}
	return nil
}

func sortJobs(jobs []evaluation.Job) {
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].Name < jobs[b].Name })
}
