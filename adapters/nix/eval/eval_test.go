package eval

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/commands/evaluation"
	"buildledger/events"
)

func requireNix(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Skip("nix-instantiate not on PATH")
	}
}

func jobsDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs("testdata/jobs")
	require.NoError(t, err)
	return d
}

// legacy returns a request for testdata/jobs/<file> with the jobs directory
// as input "src".
func legacy(t testing.TB, file string, extra map[string]Input) Request {
	inputs := map[string]Input{"src": {Kind: KindPath, Value: jobsDir(t), InputType: "path", Rev: "abc123"}}
	for k, v := range extra {
		inputs[k] = v
	}
	return Request{NixExprInput: "src", NixExprPath: file, Inputs: inputs, Backend: BackendInstantiate, Timeout: time.Minute,
		AllowedPaths: []string{nixtest.BusyboxDir()}}
}

func jobsByName(res evaluation.Result) map[string]evaluation.Job {
	m := map[string]evaluation.Job{}
	for _, j := range res.Jobs {
		m[j.Name] = j
	}
	return m
}

func jobNames(res evaluation.Result) []string {
	var ns []string
	for _, j := range res.Jobs {
		ns = append(ns, j.Name)
	}
	return ns
}

func errorNames(res evaluation.Result) []string {
	var ns []string
	for n := range res.Errors {
		ns = append(ns, n)
	}
	return ns
}

func requireDrvInStore(t *testing.T, j evaluation.Job) {
	t.Helper()
	require.True(t, strings.HasPrefix(j.DrvPath, "/nix/store/") && strings.HasSuffix(j.DrvPath, ".drv"), "job %s drv %q", j.Name, j.DrvPath)
	_, err := os.Stat(j.DrvPath)
	require.NoError(t, err, "drv of job %s must be in the store", j.Name)
	out, err := exec.Command("nix-store", "--query", "--outputs", j.DrvPath).Output()
	require.NoError(t, err)
	var want []string
	for _, o := range j.Outputs {
		want = append(want, o.Path)
	}
	require.ElementsMatch(t, want, strings.Fields(string(out)), "outputs of %s", j.Name)
}

func currentSystem(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("nix-instantiate", "--eval", "--json", "-E", "builtins.currentSystem").Output()
	require.NoError(t, err)
	return strings.Trim(strings.TrimSpace(string(out)), `"`)
}

func TestEvaluateBasic(t *testing.T) {
	requireNix(t)
	t.Parallel()
	req := legacy(t, "basic.nix", map[string]Input{
		"flag":     {Kind: KindBool, Value: "true"},
		"greeting": {Kind: KindString, Value: `he said "${hi}"`},
		"count":    {Kind: KindNix, Value: "1 + 2"},
	})
	res, err := Evaluate(context.Background(), req)
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	require.Equal(t, []string{
		"empty_dir",
		"full-of-meta",
		"inputs.count",
		"inputs.flagged",
		"inputs.greet",
		"inputs.src",
		"multi",
		"packageset.deeper.deeper.nested",
		"packageset.nested",
		"packageset.nested2",
		"plain.set.job",
	}, jobNames(res))
	jobs := jobsByName(res)
	system := currentSystem(t)
	for _, j := range res.Jobs {
		requireDrvInStore(t, j)
		require.Equal(t, system, j.System)
	}

	require.Equal(t, "count-3", jobs["inputs.count"].NixName)
	require.Equal(t, "src-abc123", jobs["inputs.src"].NixName)
	// Store names cannot hold quotes, so basic.nix spells them out.
	require.Equal(t, "greet-he_said_qdohicq", jobs["inputs.greet"].NixName)

	require.Equal(t, "deeper-nested", jobs["packageset.deeper.deeper.nested"].NixName)

	multi := jobs["multi"]
	require.Len(t, multi.Outputs, 3)
	require.Equal(t, []string{"bin", "dev", "out"}, []string{multi.Outputs[0].Name, multi.Outputs[1].Name, multi.Outputs[2].Name})
	require.True(t, strings.HasSuffix(multi.Outputs[1].Path, "-multi-dev"))

	require.Equal(t, events.JobMeta{
		Description:        "A job full of meta",
		License:            "MIT, BSD, Some Licence",
		Homepage:           "https://example.org",
		Maintainers:        "alice@example.com, bob@not.found",
		Timeout:            123,
		MaxSilent:          45,
		SchedulingPriority: 7,
		IsChannel:          true,
	}, jobs["full-of-meta"].Meta)
	require.Equal(t, events.JobMeta{SchedulingPriority: 100}, jobs["empty_dir"].Meta)
	require.False(t, jobs["empty_dir"].IsAggregate)
}

func TestEvaluateBrokenJobs(t *testing.T) {
	requireNix(t)
	t.Parallel()
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			req := legacy(t, "broken.nix", nil)
			req.Workers = workers
			res, err := Evaluate(context.Background(), req)
			require.NoError(t, err)
			require.Equal(t, []string{"good", "nested.deeper.alsoFine", "nested.fine"}, jobNames(res))
			for _, j := range res.Jobs {
				requireDrvInStore(t, j)
			}
			require.ElementsMatch(t, []string{"thrower", "asserter", "aborter", "typeerr", "missing", "metaThrows", "nested.aborts", "text"}, errorNames(res))
			for job, want := range map[string]string{
				"thrower":       "thrower is broken",
				"asserter":      "assertion '(1 == 2)' failed",
				"aborter":       "aborter gave up",
				"typeerr":       "cannot add a string to an integer",
				"missing":       "attribute 'nope' missing",
				"metaThrows":    "bad description",
				"nested.aborts": "nested abort",
				"text":          "unsupported value: a string",
			} {
				require.Contains(t, res.Errors[job], want, "error of %s", job)
				require.NotContains(t, res.Errors[job], "bl-walk:", "trace marks are not part of messages")
			}
		})
	}
}

func TestEvaluateShardedEqualsSingle(t *testing.T) {
	requireNix(t)
	t.Parallel()
	req := legacy(t, "constituents.nix", nil)
	one, err := Evaluate(context.Background(), req)
	require.NoError(t, err)
	req.Workers = 4
	four, err := Evaluate(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, one.Jobs, four.Jobs)
	require.Equal(t, one.Errors, four.Errors)
}

func TestEvaluateConstituents(t *testing.T) {
	requireNix(t)
	t.Parallel()
	res, err := Evaluate(context.Background(), legacy(t, "constituents.nix", nil))
	require.NoError(t, err)
	jobs := jobsByName(res)
	require.Equal(t, []string{
		"constituentA", "constituentA_alias", "constituentB",
		"direct_aggregate", "glob_aggregate", "indirect_aggregate", "mixed_aggregate",
		"packages.p1", "packages.p2",
	}, jobNames(res))
	require.Equal(t, jobs["constituentA"].DrvPath, jobs["constituentA_alias"].DrvPath)
	for name, want := range map[string][]string{
		"direct_aggregate":   {"constituentA"},
		"indirect_aggregate": {"constituentA"},
		// An alias resolves to the shortest name of the jobs with that
		// derivation, as Hydra links AggregateConstituents.
		"mixed_aggregate": {"constituentA", "constituentB"},
		"glob_aggregate":  {"packages.p1", "packages.p2"},
	} {
		require.True(t, jobs[name].IsAggregate, name)
		require.Equal(t, want, jobs[name].Constituents, name)
		requireDrvInStore(t, jobs[name])
	}
	require.False(t, jobs["constituentA"].IsAggregate)
	require.Nil(t, jobs["constituentA"].Constituents)
	require.Empty(t, res.Errors)
	require.Empty(t, res.BrokenAggregates)
}

// TestEvaluateBrokenAggregates follows Hydra's evaluator tests
// (evaluate-constituents-broken.t, evaluate-constituents-globbing.t): a
// broken aggregate is a failed job with nix-eval-jobs' message, listed in
// BrokenAggregates in the order Hydra's evaluator meets them.
func TestEvaluateBrokenAggregates(t *testing.T) {
	requireNix(t)
	t.Parallel()
	tests := []struct {
		file string
		// jobs are the jobs that evaluate; errors the failed jobs and
		// their messages; broken the broken aggregates in order.
		jobs   []string
		errors map[string]string
		broken []string
		warn   string
	}{
		{file: "constituents-broken.nix", jobs: []string{"constituentB"},
			errors: map[string]string{"mixed_aggregate": "constituentA: does not exist"},
			broken: []string{"mixed_aggregate"},
			warn:   "aggregate job 'mixed_aggregate' references non-existent job 'constituentA'"},
		{file: "constituents-no-matches.nix", jobs: []string{"dummy"},
			errors: map[string]string{"non_match_aggregate": "tests.*: constituent glob pattern had no matches"},
			broken: []string{"non_match_aggregate"},
			warn:   "aggregate job 'non_match_aggregate' references constituent glob pattern 'tests.*' with no matches"},
		{file: "constituents-failed.nix", jobs: []string{"fine"},
			errors: map[string]string{"broken": "does-not-evaluate: error: assertion 'false' failed"},
			broken: []string{"broken"},
			warn:   "aggregate job 'broken' references broken job 'does-not-evaluate'"},
		{file: "constituents-cycle.nix",
			errors: map[string]string{
				"indirect_aggregate": "Dependency cycle: indirect_aggregate <-> ok_aggregate",
				"ok_aggregate":       "Dependency cycle: indirect_aggregate <-> ok_aggregate"},
			broken: []string{"indirect_aggregate", "ok_aggregate"},
			warn:   "Found dependency cycle between jobs 'indirect_aggregate' and 'ok_aggregate'"},
		{file: "constituents-cycle-glob.nix", jobs: []string{"packages.constituentB"},
			errors: map[string]string{
				"indirect_aggregate":    "Dependency cycle: indirect_aggregate <-> packages.constituentA",
				"packages.constituentA": "Dependency cycle: indirect_aggregate <-> packages.constituentA",
				"ok_aggregate":          "Skipping aggregate because of a dependency cycle"},
			broken: []string{"indirect_aggregate", "packages.constituentA", "ok_aggregate"},
			warn:   "Found dependency cycle between jobs 'indirect_aggregate' and 'packages.constituentA'"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			res, err := Evaluate(context.Background(), legacy(t, tt.file, nil))
			require.NoError(t, err)
			require.Equal(t, tt.jobs, jobNames(res))
			require.Equal(t, tt.broken, res.BrokenAggregates)
			require.Len(t, res.Errors, len(tt.errors)+strings.Count(tt.file, "failed"))
			for job, want := range tt.errors {
				require.Contains(t, res.Errors[job], want, job)
			}
			require.True(t, slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, tt.warn) }),
				"warnings %q", res.Warnings)
		})
	}
}

// TestEvaluateGlobAll: "*" selects every job but the aggregate itself
// (evaluate-constituents-globbing.t).
func TestEvaluateGlobAll(t *testing.T) {
	requireNix(t)
	t.Parallel()
	res, err := Evaluate(context.Background(), legacy(t, "constituents-glob-all.nix", nil))
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	require.Equal(t, []string{"packages.constituentA", "packages.constituentB"}, jobsByName(res)["ok_aggregate"].Constituents)
}

func TestEvaluateWholeFailures(t *testing.T) {
	requireNix(t)
	t.Parallel()
	fifoDir := t.TempDir()
	fifo := filepath.Join(fifoDir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))

	tests := []struct {
		name    string
		req     Request
		want    []string
		timeout bool
	}{
		{name: "syntax error", req: legacy(t, "syntax.nix", nil), want: []string{"syntax error, unexpected '}'", "syntax.nix"}},
		{name: "missing file", req: legacy(t, "does-not-exist.nix", nil), want: []string{"does-not-exist.nix", "no such file or directory"}},
		{name: "missing argument", req: legacy(t, "basic.nix", nil), want: []string{"called without required argument 'flag'"}},
		{name: "top-level derivation", req: legacy(t, "toplevel-drv.nix", nil), want: []string{"the top-level value is a derivation, not an attribute set"}},
		{name: "bad input name", req: legacy(t, "basic.nix", map[string]Input{"my input": {Kind: KindString, Value: "x"}}),
			want: []string{`input name "my input" is not a Nix identifier`}},
		{name: "keyword input name", req: legacy(t, "basic.nix", map[string]Input{"let": {Kind: KindString, Value: "x"}}),
			want: []string{`input name "let" is not a Nix identifier`}},
		{name: "bad boolean", req: legacy(t, "basic.nix", map[string]Input{"flag": {Kind: KindBool, Value: "yes"}}),
			want: []string{`boolean value "yes" is neither true nor false`}},
		{name: "expression input not a path", req: Request{NixExprInput: "s", NixExprPath: "x.nix", Inputs: map[string]Input{"s": {Kind: KindString, Value: "/tmp"}}},
			want: []string{`nix expression input "s" is a string, not a path`}},
		{name: "escaping path", req: legacy(t, "../eval_test.go", nil), want: []string{"must be relative and inside input src"}},
		{name: "bad nix input", req: legacy(t, "basic.nix", map[string]Input{
			"flag": {Kind: KindBool, Value: "true"}, "greeting": {Kind: KindNix, Value: "1 +"}}),
			want: []string{"syntax error"}},
		{name: "timeout", req: func() Request {
			r := legacy(t, "block.nix", map[string]Input{"fifo": {Kind: KindString, Value: fifo}})
			r.Timeout = 2 * time.Second
			r.AllowedPaths = append(r.AllowedPaths, filepath.Dir(fifo))
			return r
		}(), want: []string{"evaluation timed out after 2s"}, timeout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Backend = BackendInstantiate
			start := time.Now()
			_, err := Evaluate(context.Background(), tt.req)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
			require.Equal(t, tt.timeout, errors.Is(err, ErrTimeout))
			require.Less(t, time.Since(start), 20*time.Second)
		})
	}
}

func TestEvaluateMemoryLimit(t *testing.T) {
	requireNix(t)
	t.Parallel()
	req := legacy(t, "hungry.nix", nil)
	req.MaxMemoryMB = 100
	res, err := Evaluate(context.Background(), req)
	require.NoError(t, err)
	require.Empty(t, res.Jobs)
	require.Contains(t, res.Errors["big"], "out of memory")
}

func TestEvaluateNameCollision(t *testing.T) {
	requireNix(t)
	t.Parallel()
	res, err := Evaluate(context.Background(), legacy(t, "collide.nix", nil))
	require.NoError(t, err)
	require.Equal(t, []string{"c"}, jobNames(res))
	require.Equal(t, map[string]string{"a.b": `job name collision: attributes a.b, "a.b" all have the job name "a.b"`}, res.Errors)
}

func TestEvaluateCancel(t *testing.T) {
	requireNix(t)
	t.Parallel()
	fifo := newFIFO(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req := legacy(t, "block.nix", map[string]Input{"fifo": {Kind: KindString, Value: fifo}})
	req.AllowedPaths = append(req.AllowedPaths, filepath.Dir(fifo))
	_, err := Evaluate(ctx, req)
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrTimeout), "the caller's deadline is not the evaluation's time limit")
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestEvaluateGCRoots(t *testing.T) {
	requireNix(t)
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "roots")
	req := legacy(t, "collide.nix", nil)
	req.GCRootsDir = dir
	res, err := Evaluate(context.Background(), req)
	require.NoError(t, err)
	require.Len(t, res.Jobs, 1)
	target, err := os.Readlink(filepath.Join(dir, filepath.Base(res.Jobs[0].DrvPath)))
	require.NoError(t, err)
	require.Equal(t, res.Jobs[0].DrvPath, target)
}

func TestEvaluateManyUncatchableFailures(t *testing.T) {
	requireNix(t)
	t.Parallel()
	res, err := Evaluate(context.Background(), legacy(t, "many-aborts.nix", nil))
	require.NoError(t, err)
	require.Equal(t, []string{"good", "set.fine"}, jobNames(res))
	require.Len(t, res.Errors, 6)
	for i := 0; i < 3; i++ {
		n := "abort" + strconv.Itoa(i)
		require.Contains(t, res.Errors[n], "abort number "+strconv.Itoa(i))
		require.Contains(t, res.Errors["set."+n], "abort number "+strconv.Itoa(i))
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, e.Name()), b, 0o644))
	}
}

func gitCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
}

func TestEvaluateFlake(t *testing.T) {
	requireNix(t)
	t.Parallel()
	pathDir := t.TempDir()
	copyDir(t, "testdata/flake", pathDir)
	nixtest.AddBusybox(t, pathDir)
	gitDir := t.TempDir()
	copyDir(t, "testdata/flake", gitDir)
	nixtest.AddBusybox(t, gitDir)
	gitCmd(t, gitDir, "init", "-q")
	gitCmd(t, gitDir, "add", "flake.nix", "busybox")
	gitCmd(t, gitDir, "commit", "-q", "-m", "flake")
	revOut, err := exec.Command("git", "-C", gitDir, "rev-parse", "HEAD").Output()
	require.NoError(t, err)
	rev := strings.TrimSpace(string(revOut))

	checksDir := t.TempDir()
	b, err := os.ReadFile("testdata/flake/flake.nix")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(checksDir, "flake.nix"), []byte(strings.Replace(string(b), "hydraJobs", "notHydraJobs", 1)), 0o644))
	nixtest.AddBusybox(t, checksDir)

	tests := []struct {
		name      string
		ref       string
		jobs      []string
		urlPrefix string
		locked    string
	}{
		{name: "path", ref: "path:" + pathDir, jobs: []string{"hello", "tests.x86_64-linux.unit"}, urlPrefix: "path:" + pathDir + "?", locked: "narHash=sha256-"},
		{name: "git+file", ref: "git+file://" + gitDir, jobs: []string{"hello", "tests.x86_64-linux.unit"}, urlPrefix: "git+file://" + gitDir + "?", locked: "rev=" + rev},
		{name: "checks", ref: "path:" + checksDir, jobs: []string{"x86_64-linux.check"}, urlPrefix: "path:" + checksDir + "?", locked: "narHash=sha256-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Evaluate(context.Background(), Request{Flake: tt.ref, Backend: BackendInstantiate, Timeout: time.Minute})
			require.NoError(t, err)
			require.Empty(t, res.Errors)
			require.Equal(t, tt.jobs, jobNames(res))
			require.True(t, strings.HasPrefix(res.FlakeURL, tt.urlPrefix), res.FlakeURL)
			require.Contains(t, res.FlakeURL, tt.locked)
			for _, j := range res.Jobs {
				requireDrvInStore(t, j)
				require.Equal(t, "x86_64-linux", j.System)
			}
		})
	}

	t.Run("not a flake", func(t *testing.T) {
		_, err := Evaluate(context.Background(), Request{Flake: "path:" + t.TempDir(), Backend: BackendInstantiate, Timeout: time.Minute})
		require.ErrorContains(t, err, "flake.nix")
	})
	t.Run("neither hydraJobs nor checks", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "flake.nix"), []byte("{ outputs = { self }: { }; }"), 0o644))
		_, err := Evaluate(context.Background(), Request{Flake: "path:" + dir, Backend: BackendInstantiate, Timeout: time.Minute})
		require.ErrorContains(t, err, "has neither hydraJobs nor checks")
	})
}

func TestEvaluateImportFromDerivation(t *testing.T) {
	requireNix(t)
	t.Parallel()
	req := legacy(t, "ifd.nix", nil)
	res, err := Evaluate(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, []string{"good"}, jobNames(res))
	require.Contains(t, res.Errors["ifd"], "allow-import-from-derivation")

	req.AllowIFD = true
	res, err = Evaluate(context.Background(), req)
	require.NoError(t, err)
	require.Equal(t, []string{"good"}, jobNames(res))
	require.Empty(t, res.Errors)
}

// TestEvaluateFunctionJobs: a job that is a function with formals is
// called with the jobset's inputs, at any depth, as nix-eval-jobs
// auto-calls it; a function without formals is no job and no error.
func TestEvaluateFunctionJobs(t *testing.T) {
	requireNix(t)
	t.Parallel()
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			req := legacy(t, "functions.nix", map[string]Input{"greeting": {Kind: KindString, Value: "hi"}})
			req.Workers = workers
			res, err := Evaluate(context.Background(), req)
			require.NoError(t, err)
			names := map[string]string{}
			for _, j := range res.Jobs {
				names[j.Name] = j.NixName
			}
			require.Equal(t, map[string]string{
				"plain": "fn-plain", "called": "fn-hi", "defaulted": "fn-hi-default",
				"set.deeper": "fn-deeper-hi", "nested.inner": "fn-inner-hi",
			}, names)
			require.Equal(t, []string{"throws"}, errorNames(res))
			require.Contains(t, res.Errors["throws"], "function job throws for hi")
		})
	}
}
