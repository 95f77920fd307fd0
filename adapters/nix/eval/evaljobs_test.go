package eval

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/commands/evaluation"
	"buildledger/events"
)

// fakeNixEvalJobs is a protocol test double: no nix-eval-jobs exists for
// this machine (Debian does not package it), so a shell script prints the
// JSON lines its documentation describes and records its arguments.
const fakeNixEvalJobs = `#!/bin/sh
# Nix's children get no environment of the test's: the settings are
# files beside the script.
dir=$(dirname "$0")
printf '%s\n' "$@" > "$dir/args"
if [ "$(cat "$dir/mode")" = fail ]; then
  echo "error: syntax error, unexpected end of file" >&2
  exit 1
fi
cat <<'JSON'
{"attr":"hello","attrPath":["hello"],"drvPath":"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.drv","name":"hello-1.0","outputs":{"out":"/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello-1.0","dev":"/nix/store/cccccccccccccccccccccccccccccccc-hello-1.0-dev"},"system":"x86_64-linux","meta":{"description":"Hello","license":{"shortName":"GPL-3.0-or-later","fullName":"GNU GPL"},"maintainers":[{"email":"a@example.org","github":"a"},"b@example.org"],"homepage":["https://hello.example","https://other"],"timeout":10,"isHydraChannel":true}}
JSON
if [ -e "$dir/fifo" ]; then
  cat "$dir/fifo" > /dev/null
fi
cat <<'JSON'
{"attr":"hello-alias","attrPath":["hello-alias"],"drvPath":"/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.drv","name":"hello-1.0","outputs":{"out":"/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello-1.0","dev":"/nix/store/cccccccccccccccccccccccccccccccc-hello-1.0-dev"},"system":"x86_64-linux","meta":{}}
{"attr":"broken","attrPath":["broken"],"error":"error: boom"}

{"attr":"pkgs.agg","attrPath":["pkgs","agg"],"drvPath":"/nix/store/dddddddddddddddddddddddddddddddd-agg.drv","name":"agg","outputs":{"out":"/nix/store/gggggggggggggggggggggggggggggggg-agg"},"system":"x86_64-linux","meta":{},"constituents":["/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.drv","/nix/store/ffffffffffffffffffffffffffffffff-unknown.drv"]}
JSON
`

// installFakeNixEvalJobs puts the fake on PATH; it fails in mode "fail".
// When a FIFO named fifo lies beside it, it reads that FIFO after the
// first line.
func installFakeNixEvalJobs(t *testing.T, mode string) string {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nix-eval-jobs"), []byte(fakeNixEvalJobs), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mode"), []byte(mode), 0o644))
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return filepath.Join(dir, "args")
}

func TestNixEvalJobsBackend(t *testing.T) {
	argsFile := installFakeNixEvalJobs(t, "ok")
	req := legacy(t, "basic.nix", map[string]Input{
		"greeting": {Kind: KindString, Value: "hi"},
		"flag":     {Kind: KindBool, Value: "false"},
	})
	req.Backend = BackendAuto
	res, err := Evaluate(context.Background(), req)
	require.NoError(t, err)

	require.Equal(t, []string{"hello", "hello-alias", "pkgs.agg"}, jobNames(res))
	require.Equal(t, map[string]string{"broken": "error: boom"}, res.Errors)
	jobs := jobsByName(res)
	require.Equal(t, evaluation.Job{
		Name: "hello", NixName: "hello-1.0", System: "x86_64-linux", DrvPath: "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-hello-1.0.drv",
		Outputs: []events.Output{{Name: "dev", Path: "/nix/store/cccccccccccccccccccccccccccccccc-hello-1.0-dev"}, {Name: "out", Path: "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello-1.0"}},
		Meta: events.JobMeta{Description: "Hello", License: "GPL-3.0-or-later", Maintainers: "a@example.org, b@example.org",
			Homepage: "https://hello.example", Timeout: 10, SchedulingPriority: 100, IsChannel: true},
	}, jobs["hello"])
	require.True(t, jobs["pkgs.agg"].IsAggregate)
	require.Equal(t, []string{"hello"}, jobs["pkgs.agg"].Constituents, "an alias resolves to the shortest job name")
	require.Equal(t, []string{"aggregate job ‘pkgs.agg’ has a constituent ‘/nix/store/ffffffffffffffffffffffffffffffff-unknown.drv’ that doesn't correspond to a Hydra build"}, res.Warnings)

	b, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	args := strings.Split(strings.TrimSpace(string(b)), "\n")
	joined := strings.Join(args, " ")
	for _, want := range []string{
		"--meta --constituents --force-recurse",
		"--workers 1", "--max-memory-size 4096",
		"--option allow-import-from-derivation false",
		"--argstr greeting hi", "--arg flag false",
		"-I src=" + jobsDir(t),
		`--arg src { outPath = /. + "` + jobsDir(t) + `"; inputType = "path"; rev = "abc123"; }`,
	} {
		require.Contains(t, joined, want)
	}
	require.Equal(t, filepath.Join(jobsDir(t), "basic.nix"), args[len(args)-1])
}

// TestNixEvalJobsBackendOnJob checks that OnJob receives each line's job
// while nix-eval-jobs runs: the fake waits after its first line for a FIFO
// that only the OnJob call for that job writes.
func TestNixEvalJobsBackendOnJob(t *testing.T) {
	args := installFakeNixEvalJobs(t, "ok")
	fifo := newFIFO(t, filepath.Dir(args))
	req := legacy(t, "basic.nix", nil)
	req.Backend = BackendNixEvalJobs
	res, log := evaluateReleasing(t, req, "hello", fifo)
	require.False(t, log.overlap.Load(), "OnJob calls overlapped")
	require.Equal(t, []string{"hello", "hello-alias"}, jobNames(evaluation.Result{Jobs: log.jobs}))
	requireOnJobAgrees(t, res, log.jobs)
}

func TestNixEvalJobsBackendFailure(t *testing.T) {
	installFakeNixEvalJobs(t, "fail")
	req := legacy(t, "basic.nix", nil)
	req.Backend = BackendNixEvalJobs
	_, err := Evaluate(context.Background(), req)
	require.ErrorContains(t, err, "basic.nix: error: syntax error, unexpected end of file")
}

func TestNixEvalJobsBackendFlake(t *testing.T) {
	requireNix(t)
	argsFile := installFakeNixEvalJobs(t, "ok")
	dir := t.TempDir()
	copyDir(t, "testdata/flake", dir)
	nixtest.AddBusybox(t, dir)
	res, err := Evaluate(context.Background(), Request{Flake: "path:" + dir, Timeout: time.Minute})
	require.NoError(t, err)
	require.Len(t, res.Jobs, 3)
	b, err := os.ReadFile(argsFile)
	require.NoError(t, err)
	args := strings.Split(strings.TrimSpace(string(b)), "\n")
	require.Contains(t, strings.Join(args, " "), "--flake "+res.FlakeURL+" --select flake: flake.outputs.hydraJobs or")
}

func TestParseEvalJobsErrors(t *testing.T) {
	_, err := parseEvalJobs([]byte("{\"attr\":\"a\"}\nnot json\n"))
	require.ErrorContains(t, err, "nix-eval-jobs output line 2")
	_, err = parseEvalJobs([]byte(`{"name":"x"}`))
	require.ErrorContains(t, err, "has no attr")
}

// TestParseEvalJobsBrokenAggregates: the aggregates nix-eval-jobs reports
// failed with their constituents are broken aggregates, in its order; a
// job's own failure is not.
func TestParseEvalJobsBrokenAggregates(t *testing.T) {
	out := `{"attr":"plain","attrPath":["plain"],"error":"boom"}
{"attr":"b_agg","attrPath":["b_agg"],"constituents":[],"namedConstituents":["a_agg"],"error":"Dependency cycle: b_agg <-> a_agg"}
{"attr":"a_agg","attrPath":["a_agg"],"constituents":[],"namedConstituents":["b_agg"],"error":"Dependency cycle: b_agg <-> a_agg"}
`
	recs, err := parseEvalJobs([]byte(out))
	require.NoError(t, err)
	var res evaluation.Result
	assemble(&res, recs)
	require.Equal(t, []string{"b_agg", "a_agg"}, res.BrokenAggregates)
	require.Equal(t, "boom", res.Errors["plain"])
}

func FuzzParseEvalJobs(f *testing.F) {
	f.Add([]byte(`{"attr":"a","attrPath":["a"],"drvPath":"/nix/store/x.drv","outputs":{"out":null},"meta":{"license":[1,{"spdxId":"MIT"}]}}`))
	f.Add([]byte(`{"attr":"b","error":"e"}` + "\n\n" + `{"attr":"c","constituents":[],"namedConstituents":["a"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := parseEvalJobs(data)
		if err != nil {
			return
		}
		var res evaluation.Result
		assemble(&res, recs)
		for _, j := range res.Jobs {
			if _, failed := res.Errors[j.Name]; failed {
				t.Fatalf("job %q is both evaluated and failed", j.Name)
			}
		}
	})
}

// parseEvalJobs decodes nix-eval-jobs' output, one JSON object per line,
// as evalWithNixEvalJobs does as it comes.
func parseEvalJobs(out []byte) ([]record, error) {
	p := &evalJobsParser{}
	w := &lineWriter{line: p.line}
	_, _ = w.Write(out)
	w.flush()
	return p.recs, p.err
}
