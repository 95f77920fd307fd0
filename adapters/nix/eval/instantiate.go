package eval

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
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
	// sem bounds the number of concurrent Nix processes.
	sem chan struct{}
	// what names the jobset in whole-evaluation errors.
	what string
	runs atomic.Int64
	// jobs receives the records of whole walks as they come (nil when
	// OnJob is not set).
	jobs *notifier
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
	Meta walkerMeta `json:"meta"`
	Agg  bool       `json:"agg"`
	Glob bool       `json:"glob"`
	Cons []struct {
		N   string `json:"n"`
		D   string `json:"d"`
		Bad string `json:"bad"`
	} `json:"cons"`
}

// evalWithInstantiate evaluates the legacy expression exprFile, or the flake
// flakeURL, with nix-instantiate and walker.nix, passing each job to jobs
// (nil for none) as soon as a walk has finished it.
func evalWithInstantiate(ctx context.Context, r *runner, jobs *notifier, exprFile, flakeURL string) ([]record, error) {
	dir := filepath.Join(r.dir, "walker")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("walker dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "walker.nix"), walkerNix, 0o644); err != nil {
		return nil, fmt.Errorf("write walker: %w", err)
	}
	w := &walker{r: r, dir: dir, sem: make(chan struct{}, r.req.workers()), jobs: jobs}
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
	recs, err := w.evaluate(ctx)
	slog.Debug("nix-instantiate runs", "runs", w.runs.Load())
	return recs, err
}

func (w *walker) evaluate(ctx context.Context) ([]record, error) {
	recs, err := w.walkSharded(ctx)
	var nerr *nixError
	if err != nil && !errors.As(err, &nerr) {
		return nil, err
	}
	if err != nil {
		// Something escaped builtins.tryEval: find it from the trace marks.
		recs, err = w.skipCrashes(ctx)
		if err != nil {
			return nil, err
		}
	}
	for _, rec := range recs {
		if len(rec.Path) == 0 {
			return nil, w.rootError(ctx)
		}
	}
	if err := w.explainCaught(ctx, recs); err != nil {
		return nil, err
	}
	return recs, nil
}

// skipCrashes walks with trace marks. Each time Nix dies, the records
// finished so far are kept, the attribute marked last is recorded as failed
// with Nix's message, and the next walk skips all of them. Every round
// settles at least one attribute, so the loop ends (or the time limit does).
func (w *walker) skipCrashes(ctx context.Context) ([]record, error) {
	var settled []record
	skip := skipTree{}
	for {
		recs, err := w.walkTraced(ctx, skip)
		var nerr *nixError
		if err == nil {
			return append(settled, recs...), nil
		}
		if !errors.As(err, &nerr) {
			return nil, err
		}
		rep := splitMarks(nerr.Msg)
		for _, wr := range rep.Finished {
			if len(wr.Attr) > 0 && !skip.has(wr.Attr) {
				rec := wr.record()
				settled = append(settled, rec)
				skip.add(wr.Attr)
				// Nix may have died before writing it to stdout.
				w.jobs.add(rec)
			}
		}
		if len(rep.Last) == 0 {
			return nil, fmt.Errorf("evaluate %s: %s", w.what, rep.Msg)
		}
		if skip.has(rep.Last) {
			return nil, fmt.Errorf("evaluate %s: failed after attribute %s was settled: %s", w.what, showPath(rep.Last), rep.Msg)
		}
		settled = append(settled, record{Path: rep.Last, Err: rep.Msg})
		skip.add(rep.Last)
	}
}

// rootError explains why the top level is not an attribute set of jobs.
func (w *walker) rootError(ctx context.Context) error {
	kind, err := w.probe(ctx, nil)
	var nerr *nixError
	switch {
	case errors.As(err, &nerr):
		return fmt.Errorf("evaluate %s: %s", w.what, nerr.Msg)
	case err != nil:
		return err
	case kind == "drv":
		kind = "derivation"
	}
	return fmt.Errorf("evaluate %s: the top-level value is a %s, not an attribute set of jobs", w.what, kind)
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
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for n, i := range idx {
		if n >= limit {
			recs[i].Err = fmt.Sprintf("evaluation failed (message not collected: more than %d failing jobs)", limit)
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := w.walk(ctx, "[ "+nixStringList(recs[i].Path)+" ]", "false", "", nil)
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

// walk runs walker.nix with the given arguments (Nix expressions; extra
// holds further "name = value;" bindings) and decodes its records while Nix
// writes them, passing each to pass (when not nil). Nix writes its JSON
// output as it forces the records, through a 4 KiB buffer.
func (w *walker) walk(ctx context.Context, only, catch, extra string, pass func(record)) ([]record, error) {
	type decoded struct {
		recs []record
		err  error
	}
	pr, pw := io.Pipe()
	done := make(chan decoded, 1)
	go func() {
		recs, err := decodeWalk(pr, pass)
		// Nix must be able to write all its output to end.
		_, _ = io.Copy(io.Discard, pr)
		done <- decoded{recs, err}
	}()
	_, err := w.instantiate(ctx, only, catch, "null", extra, pw)
	pw.Close()
	d := <-done
	if err != nil {
		return nil, err
	}
	return d.recs, d.err
}

// walkSharded walks everything with one Nix process per worker, each taking
// every n-th top-level attribute (one process walks all).
func (w *walker) walkSharded(ctx context.Context) ([]record, error) {
	n := w.r.req.workers()
	parts := make([][]record, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shard := ""
			if n > 1 {
				shard = fmt.Sprintf("shard = { index = %d; count = %d; };\n", i, n)
			}
			parts[i], errs[i] = w.walk(ctx, "null", "true", shard, w.jobs.add)
		}()
	}
	wg.Wait()
	var all []record
	for i := range n {
		if errs[i] != nil {
			return nil, errs[i]
		}
		all = append(all, parts[i]...)
	}
	return all, nil
}

// walkTraced walks everything but skip, with trace marks.
func (w *walker) walkTraced(ctx context.Context, skip skipTree) ([]record, error) {
	return w.walk(ctx, "null", "true", "skip = "+skip.nix()+";\n  traced = true;\n", w.jobs.add)
}

// decodeWalk decodes walker.nix's output, a JSON list of records, from r as
// it comes, passing each record to pass (when not nil).
func decodeWalk(r io.Reader, pass func(record)) ([]record, error) {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fmt.Errorf("decode walker output: not a list (%v, %v)", tok, err)
	}
	var recs []record
	for dec.More() {
		var wr walkerRecord
		if err := dec.Decode(&wr); err != nil {
			return nil, fmt.Errorf("decode walker output: %w", err)
		}
		rec := wr.record()
		recs = append(recs, rec)
		if pass != nil {
			pass(rec)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("decode walker output: %w", err)
	}
	return recs, nil
}

// probe returns the kind of the value at path p: "drv", "set", "null" or a
// Nix type name.
func (w *walker) probe(ctx context.Context, p []string) (string, error) {
	out, err := w.instantiate(ctx, "null", "false", nixStringList(p), "", nil)
	if err != nil {
		return "", err
	}
	var pr struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(out, &pr); err != nil {
		return "", fmt.Errorf("decode probe output: %w", err)
	}
	return pr.Kind, nil
}

// instantiate runs walker.nix with the given arguments and returns its
// output, or writes it to stdout (see runner.run).
func (w *walker) instantiate(ctx context.Context, only, catch, probe, extra string, stdout io.Writer) ([]byte, error) {
	n := w.runs.Add(1)
	file := filepath.Join(w.dir, "run-"+strconv.FormatInt(n, 10)+".nix")
	head := "{ ... }@args:\n"
	if len(w.args) == 0 {
		// nix-instantiate does not call a function without --arg values.
		head = "let args = { }; in\n"
	}
	walker := "import (/. + " + nixString(filepath.Join(w.dir, "walker.nix")) + ")"
	if w.r.req.Flake != "" {
		walker = "(" + string(walkerNix) + ")"
	}
	expr := head + "let root =\n" + w.root + ";\nin " + walker + " {\n  inherit root;\n  only = " + only +
		";\n  catch = " + catch + ";\n  probe = " + probe + ";\n  inherit args;\n  " + extra + "}\n"
	args := []string{"--eval", "--strict", "--json", "--read-write-mode",
		"--extra-experimental-features", "nix-command flakes",
		"--option", "allow-import-from-derivation", strconv.FormatBool(w.r.req.AllowIFD)}
	args = append(args, w.r.req.sandboxArgs(w.dir)...)
	if w.r.req.Flake != "" {
		// Pure mode reads no file outside fetched sources: the call is
		// given inline.
		args = append(args, "--expr", expr)
	} else {
		if err := os.WriteFile(file, []byte(expr), 0o644); err != nil {
			return nil, fmt.Errorf("write walker call: %w", err)
		}
		defer os.Remove(file)
		args = append(args, file)
	}
	args = append(args, w.args...)
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, w.r.contextError(ctx)
	}
	defer func() { <-w.sem }()
	return w.r.run(ctx, stdout, w.r.req.bin("nix-instantiate"), args...)
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
	rec.Meta = wr.Meta.jobMeta()
	rec.IsAggregate = wr.Agg
	rec.Glob = wr.Glob
	for _, c := range wr.Cons {
		rec.Cons = append(rec.Cons, constituentRef{Name: c.N, DrvPath: c.D, BadType: c.Bad})
	}
	rec.confine(storeDir())
	return rec
}

func unsupported(kind string) string {
	return "unsupported value: a " + kind + " (a job must be a derivation, an attribute set or null)"
}
