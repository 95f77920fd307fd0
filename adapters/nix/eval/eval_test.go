package eval

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
	return Request{NixExprInput: "src", NixExprPath: file, Inputs: inputs, Backend: BackendInstantiate, Timeout: time.Minute}
}

func jobsByName(res Result) map[string]Job {
	m := map[string]Job{}
	for _, j := range res.Jobs {
		m[j.Name] = j
	}
	return m
}

func jobNames(res Result) []string {
	var ns []string
	for _, j := range res.Jobs {
		ns = append(ns, j.Name)
	}
	return ns
}

func errorNames(res Result) []string {
	var ns []string
	for n := range res.Errors {
		ns = append(ns, n)
	}
	return ns
}

func requireDrvInStore(t *testing.T, j Job) {
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
	for _, j := range res.Jobs {
		requireDrvInStore(t, j)
		require.Equal(t, currentSystem(t), j.System)
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
	require.Equal(t, events.JobMeta{Timeout: 36000, MaxSilent: 7200, SchedulingPriority: 100}, jobs["empty_dir"].Meta)
	require.False(t, jobs["empty_dir"].IsAggregate)
	require.Positive(t, res.EvalTime)
}
