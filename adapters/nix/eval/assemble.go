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
// job-name collisions and resolves aggregate constituents to job names. A
// broken aggregate (a constituent missing, failed or unmatched, or a
// dependency cycle) is a failed job listed in res.BrokenAggregates, in the
// order nix-eval-jobs reports them (dependencies before the aggregates
// that name them), for the caller to fail the evaluation as Hydra does.
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
	// broken are aggregates a backend already reported failed for their
	// constituents (nix-eval-jobs resolves them itself), in its order.
	var broken []aggregateFailure
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
			if rec.IsAggregate {
				broken = append(broken, aggregateFailure{n, rec.Err})
			}
			res.Errors[n] = rec.Err
			continue
		}
		jobs[n] = &rec
	}

	a := newAggregates(jobs, res.Errors)
	for _, f := range append(broken, a.resolve()...) {
		res.Errors[f.job] = strings.TrimRight(f.msg, "\n")
		res.BrokenAggregates = append(res.BrokenAggregates, f.job)
	}
	res.Warnings = append(res.Warnings, a.warns...)
	for _, n := range a.names {
		if _, failed := res.Errors[n]; failed {
			continue
		}
		// A broken aggregate named as a constituent has no build.
		var cs []string
		for _, c := range a.constituents[n] {
			if _, failed := res.Errors[c]; failed {
				res.Warnings = append(res.Warnings, fmt.Sprintf("aggregate job ‘%s’ has a constituent ‘%s’ that doesn't correspond to a Hydra build", n, jobs[c].DrvPath))
				continue
			}
			cs = append(cs, c)
		}
		res.Jobs = append(res.Jobs, jobs[n].job(n, cs))
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

// aggregateFailure is an aggregate whose constituents cannot be resolved,
// with nix-eval-jobs' message.
type aggregateFailure struct {
	job, msg string
}

// aggregates resolves the constituents of the evaluated aggregates the way
// nix-eval-jobs --constituents and hydra-eval-jobset do together.
type aggregates struct {
	jobs   map[string]*record
	failed map[string]string
	// names are the successful jobs, sorted.
	names []string
	// byDrv maps a .drv to the jobs that have it (aliases).
	byDrv map[string][]string
	// constituents are the resolved job names of each aggregate.
	constituents map[string][]string
	warns        []string
}

func newAggregates(jobs map[string]*record, failed map[string]string) *aggregates {
	a := &aggregates{jobs: jobs, failed: failed, byDrv: map[string][]string{}, constituents: map[string][]string{}}
	for n, rec := range jobs {
		a.byDrv[rec.DrvPath] = append(a.byDrv[rec.DrvPath], n)
		a.names = append(a.names, n)
	}
	sort.Strings(a.names)
	return a
}

// warn records one of the messages nix-eval-jobs and hydra-eval-jobset
// print on stderr.
func (a *aggregates) warn(format string, args ...any) {
	a.warns = append(a.warns, fmt.Sprintf(format, args...))
}

// resolve sets a.constituents and returns the aggregates that fail: the
// two ends of a dependency cycle and every other aggregate naming jobs
// (skipped), or else those with broken constituents, dependencies first.
func (a *aggregates) resolve() []aggregateFailure {
	// deps are the jobs each aggregate names; brokenCons its constituents
	// that are missing or failed, with their messages.
	deps := map[string][]string{}
	brokenCons := map[string]map[string]string{}
	for _, n := range a.names {
		rec := a.jobs[n]
		if !rec.IsAggregate {
			continue
		}
		named, brk := a.resolveOne(n, rec)
		if rec.namesJobs() {
			deps[n] = named
		}
		if len(brk) > 0 {
			brokenCons[n] = brk
		}
	}
	order, cyc := topoSort(deps)
	if cyc != nil {
		a.warn("Found dependency cycle between jobs '%s' and '%s'", cyc.a, cyc.b)
		msg := fmt.Sprintf("Dependency cycle: %s <-> %s", cyc.a, cyc.b)
		out := []aggregateFailure{{cyc.a, msg}, {cyc.b, msg}}
		for _, n := range sortedNames(deps) {
			if n != cyc.a && n != cyc.b {
				out = append(out, aggregateFailure{n, "Skipping aggregate because of a dependency cycle"})
			}
		}
		return out
	}
	// Aggregates naming no job are not ordered by nix-eval-jobs: it
	// reports them as it evaluates them, before the others.
	var first []string
	for _, n := range sortedNames(brokenCons) {
		if _, ok := deps[n]; !ok {
			first = append(first, n)
		}
	}
	var out []aggregateFailure
	for _, n := range append(first, order...) {
		brk := brokenCons[n]
		if len(brk) == 0 {
			continue
		}
		var b strings.Builder
		for _, c := range sortedNames(brk) {
			fmt.Fprintf(&b, "%s: %s\n", c, brk[c])
		}
		out = append(out, aggregateFailure{n, b.String()})
	}
	return out
}

// namesJobs reports whether an aggregate names any constituent by job name:
// only those take part in nix-eval-jobs' ordering and cycle check.
func (rec *record) namesJobs() bool {
	for _, c := range rec.Cons {
		if c.Name != "" {
			return true
		}
	}
	return false
}

// resolveOne resolves the constituents of aggregate self into
// a.constituents, each one the shortest name of the jobs with its
// derivation, as Hydra picks among aliases. It returns the jobs self names and the constituents that are broken.
func (a *aggregates) resolveOne(self string, rec *record) (named []string, broken map[string]string) {
	broken = map[string]string{}
	seen := map[string]bool{}
	add := func(n string) {
		if s := shortestName(a.byDrv[a.jobs[n].DrvPath]); !seen[s] {
			seen[s] = true
			a.constituents[self] = append(a.constituents[self], s)
		}
	}
	// ok reports whether job n may be a constituent, noting it broken if
	// it failed.
	ok := func(n string) bool {
		if msg, failed := a.failed[n]; failed {
			a.warn("aggregate job '%s' references broken job '%s': %s", self, n, msg)
			broken[n] = msg
			return false
		}
		return true
	}
	for _, c := range rec.Cons {
		switch {
		case c.BadType != "":
			broken["constituent of type "+c.BadType] = "is neither a derivation nor a job name"
		case c.DrvPath != "":
			aliases := a.byDrv[c.DrvPath]
			if len(aliases) == 0 {
				a.warn("aggregate job ‘%s’ has a constituent ‘%s’ that doesn't correspond to a Hydra build", self, c.DrvPath)
				continue
			}
			add(aliases[0])
		default:
			_, isJob := a.jobs[c.Name]
			_, isFailed := a.failed[c.Name]
			switch {
			case isJob || isFailed:
				if ok(c.Name) {
					named = append(named, c.Name)
					add(c.Name)
				}
			case !rec.Glob:
				a.warn("aggregate job '%s' references non-existent job '%s'", self, c.Name)
				broken[c.Name] = "does not exist"
			default:
				if !a.glob(self, c.Name, ok, &named, add) {
					a.warn("aggregate job '%s' references constituent glob pattern '%s' with no matches", self, c.Name)
					broken[c.Name] = "constituent glob pattern had no matches"
				}
			}
		}
	}
	return named, broken
}

// glob adds the jobs but self that pattern matches and that did not fail;
// it reports whether there was one.
func (a *aggregates) glob(self, pattern string, ok func(string) bool, named *[]string, add func(string)) bool {
	candidates := make([]string, 0, len(a.names)+len(a.failed))
	candidates = append(candidates, a.names...)
	candidates = append(candidates, sortedNames(a.failed)...)
	found := false
	for _, n := range candidates {
		if m, _ := path.Match(pattern, n); !m || n == self || !ok(n) {
			continue
		}
		*named = append(*named, n)
		add(n)
		found = true
	}
	return found
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

// cycle is the first dependency cycle a depth-first walk finds: a is the
// aggregate met again, b the one naming it.
type cycle struct{ a, b string }

// topoSort orders the aggregates of deps so that each follows the
// aggregates it names, walking names and their dependencies in sorted
// order, as nix-eval-jobs does; it stops at the first cycle.
func topoSort(deps map[string][]string) (order []string, cyc *cycle) {
	visited := map[string]bool{}
	onPath := map[string]bool{}
	var visit func(n, parent string) bool
	visit = func(n, parent string) bool {
		if onPath[n] {
			cyc = &cycle{a: n, b: parent}
			return false
		}
		if visited[n] {
			return true
		}
		visited[n] = true
		onPath[n] = true
		ds := append([]string(nil), deps[n]...)
		sort.Strings(ds)
		for _, d := range ds {
			if _, isAgg := deps[d]; isAgg && d != n && !visit(d, n) {
				return false
			}
		}
		order = append(order, n)
		onPath[n] = false
		return true
	}
	for _, n := range sortedNames(deps) {
		if !visit(n, "") {
			return nil, cyc
		}
	}
	return order, nil
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
