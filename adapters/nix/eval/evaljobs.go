package eval

import (
	"bufio"
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
// JSON lines.
func evalWithNixEvalJobs(ctx context.Context, r *runner, exprFile, flakeURL string) ([]record, error) {
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
	what := exprFile
	if flakeURL != "" {
		what = "flake " + flakeURL
		args = append(args, "--option", "eval-cache", "false", "--flake", flakeURL, "--select",
			`flake: flake.outputs.hydraJobs or (flake.outputs.checks or (throw "flake has neither hydraJobs nor checks"))`)
	} else {
		args = append(args, r.req.nixArgs(storeDir())...)
		args = append(args, exprFile)
	}
	out, err := r.run(ctx, r.req.bin("nix-eval-jobs"), args...)
	if err != nil {
		var nerr *nixError
		if errors.As(err, &nerr) {
			return nil, fmt.Errorf("evaluate %s: %s", what, nerr.Msg)
		}
		return nil, err
	}
	return parseEvalJobs(out)
}

// parseEvalJobs decodes nix-eval-jobs' output, one JSON object per line.
func parseEvalJobs(out []byte) ([]record, error) {
	var recs []record
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l evalJobsLine
		if err := json.Unmarshal(line, &l); err != nil {
			return nil, fmt.Errorf("nix-eval-jobs output line %d: %w", n, err)
		}
		if l.Attr == "" && len(l.AttrPath) == 0 {
			return nil, fmt.Errorf("nix-eval-jobs output line %d has no attr", n)
		}
		rec := record{Path: l.AttrPath, Name: l.Attr}
		if l.Error != "" {
			rec.Err = l.Error
			recs = append(recs, rec)
			continue
		}
		rec.NixName = l.Name
		rec.System = l.System
		rec.DrvPath = l.DrvPath
		for name, p := range l.Outputs {
			rec.Outputs = append(rec.Outputs, events.Output{Name: name, Path: p})
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
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read nix-eval-jobs output: %w", err)
	}
	return recs, nil
}
