package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"buildledger/events"
)

// evalJobsLine is one line of nix-eval-jobs' output.
type evalJobsLine struct {
	Attr              string            `json:"attr"`
	AttrPath          []string          `json:"attrPath"`
	Name              string            `json:"name"`
	System            string            `json:"system"`
	DrvPath           string            `json:"drvPath"`
	Outputs           map[string]string `json:"outputs"`
	Meta              map[string]any    `json:"meta"`
	Constituents      *[]string         `json:"constituents"`
	NamedConstituents *[]string         `json:"namedConstituents"`
	Error             string            `json:"error"`
}

// evalWithNixEvalJobs runs nix-eval-jobs the way Hydra does and decodes its
// JSON lines as they come, passing each job to jobs (nil for none).
func evalWithNixEvalJobs(ctx context.Context, r *runner, jobs *notifier, exprFile, flakeURL string) ([]record, error) {
	roots := r.req.GCRootsDir
	if roots == "" {
		dir, err := os.MkdirTemp("", "buildledger-gcroots-")
		if err != nil {
			return nil, fmt.Errorf("gc roots temp dir: %w", err)
		}
		defer os.RemoveAll(dir)
		roots = dir
	}
	args := []string{
		"--gc-roots-dir", roots,
		"--meta", "--constituents", "--force-recurse",
		"--workers", strconv.Itoa(r.req.workers()),
		"--max-memory-size", strconv.Itoa(r.req.maxMemoryMB()),
		"--option", "allow-import-from-derivation", strconv.FormatBool(r.req.AllowIFD),
	}
	args = append(args, r.req.sandboxArgs()...)
	what := exprFile
	if flakeURL != "" {
		what = "flake " + flakeURL
		args = append(args, "--option", "eval-cache", "false", "--flake", flakeURL, "--select",
			`flake: flake.outputs.hydraJobs or (flake.outputs.checks or (throw "flake has neither hydraJobs nor checks"))`)
	} else {
		args = append(args, r.req.nixArgs(storeDir())...)
		args = append(args, exprFile)
	}
	p := &evalJobsParser{jobs: jobs}
	lines := &lineWriter{line: p.line}
	_, err := r.run(ctx, lines, r.req.bin("nix-eval-jobs"), args...)
	lines.flush()
	if err != nil {
		var nerr *nixError
		if errors.As(err, &nerr) {
			return nil, fmt.Errorf("evaluate %s: %s", what, nerr.Msg)
		}
		return nil, err
	}
	return p.recs, p.err
}

// evalJobsParser decodes nix-eval-jobs' output line by line into recs,
// passing each to jobs (nil for none); err is the first bad line, after
// which lines are ignored.
type evalJobsParser struct {
	jobs *notifier
	n    int
	recs []record
	err  error
}

func (p *evalJobsParser) line(b []byte) {
	p.n++
	b = bytes.TrimSpace(b)
	if p.err != nil || len(b) == 0 {
		return
	}
	var l evalJobsLine
	if err := json.Unmarshal(b, &l); err != nil {
		p.err = fmt.Errorf("nix-eval-jobs output line %d: %w", p.n, err)
		return
	}
	if l.Attr == "" && len(l.AttrPath) == 0 {
		p.err = fmt.Errorf("nix-eval-jobs output line %d has no attr", p.n)
		return
	}
	rec := record{Path: l.AttrPath, Name: l.Attr}
	if l.Error != "" {
		rec.Err = l.Error
		// An aggregate nix-eval-jobs could not resolve keeps its
		// constituents: Hydra fails the evaluation for it.
		rec.IsAggregate = l.Constituents != nil || l.NamedConstituents != nil
	} else {
		rec.NixName = l.Name
		rec.System = l.System
		rec.DrvPath = l.DrvPath
		for name, path := range l.Outputs {
			rec.Outputs = append(rec.Outputs, events.Output{Name: name, Path: path})
		}
		rec.Meta = jobMeta(l.Meta)
		if l.Constituents != nil || l.NamedConstituents != nil {
			rec.IsAggregate = true
		}
		if l.Constituents != nil {
			for _, d := range *l.Constituents {
				rec.Cons = append(rec.Cons, constituentRef{DrvPath: d})
			}
		} else if l.NamedConstituents != nil {
			for _, name := range *l.NamedConstituents {
				rec.Cons = append(rec.Cons, constituentRef{Name: name})
			}
		}
	}
	rec.confine(storeDir())
	p.recs = append(p.recs, rec)
	p.jobs.add(rec)
}
