package eval

import (
	_ "embed"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"buildledger/events"
)

//go:embed walker.nix
var walkerNix []byte

// walker runs walker.nix over one jobset with nix-instantiate.
type walker struct {
	r    *runner
	dir  string
	root string // Nix expression of the jobset's attribute set (uses args)
	args []string
	// what names the jobset in whole-evaluation errors.
	what string
	runs atomic.Int64
}

// walkerRecord is the JSON shape of walker.nix's records.
type walkerRecord struct {
	Attr    []string `json:"attr"`
	Err     string   `json:"err"`
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	System  string   `json:"system"`
	DrvPath string   `json:"drvPath"`
	Outputs []struct {
		Name string `json:"name"`
		Path string `json:"path"`
	} `json:"outputs"`
	Meta map[string]any `json:"meta"`
	Agg  bool           `json:"agg"`
	Glob bool           `json:"glob"`
	Cons []struct {
		N   string `json:"n"`
		D   string `json:"d"`
		Bad string `json:"bad"`
	} `json:"cons"`
}

// evalWithInstantiate evaluates the legacy expression exprFile, or the flake
// flakeURL, with nix-instantiate and walker.nix.
func evalWithInstantiate(ctx context.Context, r *runner, exprFile, flakeURL string) ([]record, error) {
	dir, err := os.MkdirTemp("", "buildledger-eval-")
	if err != nil {
		return nil, fmt.Errorf("eval temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "walker.nix"), walkerNix, 0o644); err != nil {
		return nil, fmt.Errorf("write walker: %w", err)
	}
	w := &walker{r: r, dir: dir}
	if flakeURL != "" {
		w.what = "flake " + flakeURL
		u := nixString(flakeURL)
		w.root = "let o = (builtins.getFlake " + u + ").outputs; in\n" +
			"if o ? hydraJobs then o.hydraJobs else if o ? checks then o.checks\n" +
			"else throw (\"flake \" + " + u + " + \" has neither hydraJobs nor checks\")"
	} else {
		w.what = exprFile
		w.root = "let f = import (/. + " + nixString(exprFile) + "); in\n" +
			"if builtins.isFunction f then\n" +
			"  (let fa = builtins.functionArgs f; in f (if fa == { } then args else builtins.intersectAttrs fa args))\n" +
			"else f"
		w.args = r.req.nixArgs(storeDir())
	}
	return w.evaluate(ctx)
}

func (w *walker) evaluate(ctx context.Context) ([]record, error) {
	recs, err := w.walk(ctx, nil, true)
	var nerr *nixError
	if err != nil && !errors.As(err, &nerr) {
		return nil, err
	}
	rootBad := err != nil
	for _, rec := range recs {
		if len(rec.Path) == 0 {
			rootBad = true
		}
	}
	if rootBad {
		// Either something escaped builtins.tryEval or the top level itself
		// is wrong: look at the top level, then bisect below it.
		kind, names, perr := w.probe(ctx, nil)
		if perr != nil {
			if errors.As(perr, &nerr) {
				return nil, fmt.Errorf("evaluate %s: %s", w.what, nerr.Msg)
			}
			return nil, perr
		}
		if kind != "set" {
			return nil, fmt.Errorf("evaluate %s: the top-level value is a %s, not an attribute set of jobs", w.what, kind)
		}
		recs, err = w.bisect(ctx, childPaths(nil, names))
		if err != nil {
			return nil, err
		}
	}
	if err := w.explainCaught(ctx, recs); err != nil {
		return nil, err
	}
	return recs, nil
}

// bisect walks the subtrees at paths, splitting the set whenever the walk
// fails as a whole, until each uncatchable failure is pinned to one job.
func (w *walker) bisect(ctx context.Context, paths [][]string) ([]record, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	recs, err := w.walk(ctx, paths, true)
	var nerr *nixError
	if err == nil {
		return recs, nil
	}
	if !errors.As(err, &nerr) {
		return nil, err
	}
	if len(paths) > 1 {
		mid := len(paths) / 2
		a, err := w.bisect(ctx, paths[:mid])
		if err != nil {
			return nil, err
		}
		b, err := w.bisect(ctx, paths[mid:])
		if err != nil {
			return nil, err
		}
		return append(a, b...), nil
	}
	p := paths[0]
	kind, names, perr := w.probe(ctx, p)
	var pnerr *nixError
	switch {
	case errors.As(perr, &pnerr):
		return []record{{Path: p, Err: pnerr.Msg}}, nil
	case perr != nil:
		return nil, perr
	case kind == "set":
		return w.bisect(ctx, childPaths(p, names))
	case kind == "null":
		return nil, nil
	case kind == "drv":
		return []record{{Path: p, Err: nerr.Msg}}, nil
	}
	return []record{{Path: p, Err: unsupported(kind)}}, nil
}

// explainCaught replaces the placeholder of errors caught by
// builtins.tryEval with Nix's message, obtained by evaluating each failing
// attribute alone without tryEval.
func (w *walker) explainCaught(ctx context.Context, recs []record) error {
	var idx []int
	for i, rec := range recs {
		if rec.Err == errCaught {
			idx = append(idx, i)
		}
	}
	limit := w.r.req.maxErrorDetails()
	sem := make(chan struct{}, w.r.req.workers())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for n, i := range idx {
		if n >= limit {
			recs[i].Err = fmt.Sprintf("evaluation failed (message not collected: more than %d failing jobs)", limit)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := w.walk(ctx, [][]string{recs[i].Path}, false)
			var nerr *nixError
			switch {
			case errors.As(err, &nerr):
				recs[i].Err = nerr.Msg
			case err != nil:
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			default:
				recs[i].Err = "evaluation failed (caught by builtins.tryEval, but succeeded when evaluated alone)"
			}
		}(i)
	}
	wg.Wait()
	return firstErr
}

const errCaught = "\x00caught"

// walk runs walker.nix over the subtrees at only (everything when nil).
func (w *walker) walk(ctx context.Context, only [][]string, catch bool) ([]record, error) {
	onlyExpr := "null"
	if only != nil {
		var b strings.Builder
		b.WriteString("[")
		for _, p := range only {
			b.WriteString("\n" + nixStringList(p))
		}
		b.WriteString("\n]")
		onlyExpr = b.String()
	}
	out, err := w.instantiate(ctx, onlyExpr, strconv.FormatBool(catch), "null")
	if err != nil {
		return nil, err
	}
	var raw []walkerRecord
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("decode walker output: %w", err)
	}
	recs := make([]record, len(raw))
	for i, wr := range raw {
		recs[i] = wr.record()
	}
	return recs, nil
}

// probe returns the kind of the value at path p ("drv", "set", "null" or a
// Nix type name) and, for a set, its attribute names.
func (w *walker) probe(ctx context.Context, p []string) (string, []string, error) {
	out, err := w.instantiate(ctx, "null", "false", nixStringList(p))
	if err != nil {
		return "", nil, err
	}
	var pr struct {
		Kind  string   `json:"kind"`
		Names []string `json:"names"`
	}
	if err := json.Unmarshal(out, &pr); err != nil {
		return "", nil, fmt.Errorf("decode probe output: %w", err)
	}
	return pr.Kind, pr.Names, nil
}

func (w *walker) instantiate(ctx context.Context, only, catch, probe string) ([]byte, error) {
	n := w.runs.Add(1)
	file := filepath.Join(w.dir, "run-"+strconv.FormatInt(n, 10)+".nix")
	expr := "{ ... }@args:\nlet root =\n" + w.root + ";\nin import " + filepath.Join(w.dir, "walker.nix") +
		" {\n  inherit root;\n  only = " + only + ";\n  catch = " + catch + ";\n  probe = " + probe + ";\n}\n"
	if err := os.WriteFile(file, []byte(expr), 0o644); err != nil {
		return nil, fmt.Errorf("write walker call: %w", err)
	}
	defer os.Remove(file)
	args := []string{"--eval", "--strict", "--json", "--read-write-mode",
		"--extra-experimental-features", "nix-command flakes",
		"--option", "allow-import-from-derivation", strconv.FormatBool(w.r.req.AllowIFD),
		file}
	args = append(args, w.args...)
	return w.r.run(ctx, w.r.req.bin("nix-instantiate"), args...)
}

func (wr walkerRecord) record() record {
	rec := record{Path: wr.Attr}
	switch wr.Err {
	case "":
	case "unsupported":
		rec.Err = unsupported(wr.Kind)
		return rec
	default:
		rec.Err = errCaught
		return rec
	}
	rec.NixName = wr.Name
	rec.System = wr.System
	rec.DrvPath = wr.DrvPath
	for _, o := range wr.Outputs {
		rec.Outputs = append(rec.Outputs, events.Output{Name: o.Name, Path: o.Path})
	}
	rec.Meta = jobMeta(wr.Meta)
	rec.IsAggregate = wr.Agg
	rec.Glob = wr.Glob
	for _, c := range wr.Cons {
		rec.Cons = append(rec.Cons, constituentRef{Name: c.N, DrvPath: c.D, BadType: c.Bad})
	}
	return rec
}

func unsupported(kind string) string {
	return "unsupported value: a " + kind + " (a job must be a derivation, an attribute set or null)"
}

func childPaths(parent []string, names []string) [][]string {
	out := make([][]string, len(names))
	for i, n := range names {
		p := make([]string, len(parent)+1)
		copy(p, parent)
		p[len(parent)] = n
		out[i] = p
	}
	return out
}
