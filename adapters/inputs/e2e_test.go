package inputs

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/eval"
	"buildledger/adapters/nix/nixtest"
	"buildledger/events"
)

const gitRelease = `{ src, greeting }:
{
  hello = derivation {
    name = "hello-${src.shortRev}-${toString src.revCount}";
    system = builtins.currentSystem;
    builder = "` + nixtest.Sh + `";
    args = [ "sh" "-c" "echo ${greeting} > $out" ];
    source = src;
    readme = builtins.readFile "${src}/README";
  };
}
`

// TestFetchedGitInputEvaluates fetches a git input and evaluates the
// release expression inside it with the input passed as Hydra does.
func TestFetchedGitInputEvaluates(t *testing.T) {
	requireTools(t)
	repo := t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	commit(t, repo, "README", "hi\n")
	rev := commit(t, repo, "release.nix", gitRelease)

	f := &Fetcher{CacheDir: t.TempDir(), Roots: []string{repo}}
	src, err := f.Fetch(context.Background(), events.JobsetInput{Name: "src", Type: "git", Value: "file://" + repo})
	require.NoError(t, err)
	greeting, err := f.Fetch(context.Background(), events.JobsetInput{Name: "greeting", Type: "string", Value: "hello"})
	require.NoError(t, err)

	res, err := eval.Evaluate(context.Background(), eval.Request{
		NixExprInput: "src", NixExprPath: "release.nix",
		Inputs:  map[string]eval.Input{"src": eval.InputOf(src), "greeting": eval.InputOf(greeting)},
		Backend: eval.BackendInstantiate, Timeout: time.Minute, AllowedPaths: []string{nixtest.BusyboxDir()},
	})
	require.NoError(t, err)
	require.Empty(t, res.Errors)
	require.Len(t, res.Jobs, 1)
	require.Equal(t, "hello-"+rev[:7]+"-2", res.Jobs[0].NixName)
	drv, err := os.ReadFile(res.Jobs[0].DrvPath)
	require.NoError(t, err)
	require.Contains(t, string(drv), src.StorePath, "the input's store path is a source of the derivation")
}
