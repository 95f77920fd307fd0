package eval

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"buildledger/commands/evaluation"
	"buildledger/domain/names"
	"buildledger/events"
)

// record is one job or one job error as a backend reports it.
type record struct {
	// Path is the attribute path; Name the job name when the backend gives
	// it (nix-eval-jobs), else the path joined with ".".
	Path        []string
	Name        string
	NixName     string
	System      string
	DrvPath     string
	Outputs     []events.Output
	Meta        events.JobMeta
	IsAggregate bool
	// Glob makes name constituents glob patterns.
	Glob bool
	Cons []constituentRef
	// Err is the job's error message; non-empty means the job failed.
	Err string
}

// constituentRef is one element of an aggregate's constituents: a job name
// or a derivation path, or BadType when it is neither.
type constituentRef struct {
	Name    string
	DrvPath string
	BadType string
}

// confine fails a job whose derivation or output paths are not store
// paths: an evaluation can make any attribute set with type =
// "derivation" a job, and its paths go on to nix-store's command line and
// to the reading of derivation files.
func (rec *record) confine(storeDir string) {
	if rec.Err != "" {
		return
	}
	if base, ok := strings.CutPrefix(rec.DrvPath, storeDir+"/"); !ok || !names.DrvFile(base) {
		rec.Err = fmt.Sprintf("drvPath %q is not a derivation in the store %s", rec.DrvPath, storeDir)
		return
	}
	for _, o := range rec.Outputs {
		if base, ok := strings.CutPrefix(o.Path, storeDir+"/"); !ok || !names.StoreBase(base) {
			rec.Err = fmt.Sprintf("output %s: path %q is not a store path in %s", o.Name, o.Path, storeDir)
			return
		}
	}
}

func (rec record) jobName() string {
	if rec.Name != "" || len(rec.Path) == 0 {
		return rec.Name
	}
	return strings.Join(rec.Path, ".")
}

// assemble turns backend records into res.Jobs and res.Errors: it reports
// job-name collisions and resolves aggregate constituents to job names.
func assemble(res *evaluation.Result, recs []record) {
	res.Errors = map[string]string{}
	byName := map[string][]record{}
	var order []string
	for _, rec := range recs {
		n := rec.jobName()
		if _, seen := byName[n]; !seen {
			order = append(order, n)
		}
		byName[n] = append(byName[n], rec)
	}
	jobs := map[string]*record{}
	for _, n := range order {
		rs := byName[n]
		if len(rs) > 1 {
			paths := make([]string, len(rs))
			for i, r := range rs {
				paths[i] = showPath(r.Path)
			}
			res.Errors[n] = fmt.Sprintf("job name collision: attributes %s all have the job name %q", strings.Join(paths, ", "), n)
			continue
		}
		rec := rs[0]
		if rec.Err != "" {
			res.Errors[n] = rec.Err
			continue
		}
		jobs[n] = &rec
	}

	byDrv := map[string][]string{}
	for n, rec := range jobs {
		byDrv[rec.DrvPath] = append(byDrv[rec.DrvPath], n)
	}
	names := make([]string, 0, len(jobs))
	for n := range jobs {
		names = append(names, n)
	}
	sort.Strings(names)

	constituents := map[string][]string{}
	for _, n := range names {
		rec := jobs[n]
		if !rec.IsAggregate {
			continue
		}
		cs, errs, warns := resolveConstituents(n, rec, jobs, byDrv, res.Errors, names)
		res.Warnings = append(res.Warnings, warns...)
		if len(errs) > 0 {
			res.Errors[n] = strings.Join(errs, "\n")
			continue
		}
		constituents[n] = cs
	}
	for n, msg := range aggregateCycles(constituents) {
		res.Errors[n] = msg
		delete(constituents, n)
	}

	for _, n := range names {
		rec := jobs[n]
		if _, failed := res.Errors[n]; failed {
			continue
		}
		res.Jobs = append(res.Jobs, rec.job(n, constituents[n]))
	}
	sortJobs(res.Jobs)
}

// job is the Job of a successful record, named name, its outputs sorted by
// name.
func (rec *record) job(name string, constituents []string) evaluation.Job {
	outs := append([]events.Output(nil), rec.Outputs...)
	sort.Slice(outs, func(a, b int) bool { return outs[a].Name < outs[b].Name })
	return evaluation.Job{
		Name:         name,
		NixName:      rec.NixName,
		System:       rec.System,
		DrvPath:      rec.DrvPath,
		Outputs:      outs,
		Meta:         rec.Meta,
		IsAggregate:  rec.IsAggregate,
		Constituents: constituents,
	}
}

// resolveConstituents maps an aggregate's constituents to job names: names
// are checked (or matched as globs), derivations resolve to the job with
// that .drv (the shortest name when several are aliases).
func resolveConstituents(self string, rec *record, jobs map[string]*record, byDrv map[string][]string,
	failed map[string]string, names []string) (cs, errs, warns []string) {
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			cs = append(cs, n)
		}
	}
	for _, c := range rec.Cons {
		switch {
		case c.BadType != "":
			errs = append(errs, fmt.Sprintf("constituent of type %s is neither a derivation nor a job name", c.BadType))
		case c.DrvPath != "":
			aliases := byDrv[c.DrvPath]
			if len(aliases) == 0 {
				warns = append(warns, fmt.Sprintf("aggregate job %s has a constituent %s that is not a job", self, c.DrvPath))
				continue
			}
			add(shortestName(aliases))
		case rec.Glob:
			matched := false
			for _, n := range names {
				if ok, _ := path.Match(c.Name, n); ok && n != self {
					add(n)
					matched = true
				}
			}
			if !matched {
				errs = append(errs, fmt.Sprintf("%s: constituent glob pattern had no matches", c.Name))
			}
		default:
			if _, ok := jobs[c.Name]; ok {
				add(c.Name)
			} else if msg, ok := failed[c.Name]; ok {
				errs = append(errs, fmt.Sprintf("%s: %s", c.Name, msg))
			} else {
				errs = append(errs, fmt.Sprintf("%s: does not exist", c.Name))
			}
		}
	}
	return cs, errs, warns
}

func shortestName(ns []string) string {
	best := ns[0]
	for _, n := range ns[1:] {
		if len(n) < len(best) || (len(n) == len(best) && n < best) {
			best = n
		}
	}
	return best
}

// aggregateCycles finds aggregates that (transitively) contain themselves
// and returns an error message for each.
func aggregateCycles(cons map[string][]string) map[string]string {
	out := map[string]string{}
	for start := range cons {
		// Depth-first search for a path back to start.
		var trail []string
		visited := map[string]bool{}
		var dfs func(n string) bool
		dfs = func(n string) bool {
			for _, c := range cons[n] {
				if c == start {
					trail = append(trail, n)
					return true
				}
				if _, isAgg := cons[c]; !isAgg || visited[c] {
					continue
				}
				visited[c] = true
				if dfs(c) {
					trail = append(trail, n)
					return true
				}
			}
			return false
		}
		if dfs(start) {
			// trail is reversed: the last element is start.
			cyc := make([]string, 0, len(trail)+1)
			for i := len(trail) - 1; i >= 0; i-- {
				cyc = append(cyc, trail[i])
			}
			cyc = append(cyc, start)
			out[start] = "Dependency cycle: " + strings.Join(cyc, " <-> ")
		}
	}
	return out
}

// showPath renders an attribute path, quoting names that need it.
func showPath(p []string) string {
	parts := make([]string, len(p))
	for i, s := range p {
		if isNixIdentifier(s) {
			parts[i] = s
		} else {
			parts[i] = strconv.Quote(s)
		}
	}
	return strings.Join(parts, ".")
}
