package evaluator

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/eval"
	"buildledger/adapters/nix/nixtest"
	"buildledger/commands/evaluation"
)

func TestNixOnJob(t *testing.T) {
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Skip("nix-instantiate not on PATH")
	}
	dir := t.TempDir()
	release := `{ src }:
let
  busybox = ` + nixtest.Busybox + `;
  mk = name: derivation { inherit name; system = builtins.currentSystem; builder = "${busybox}/busybox"; args = [ "sh" "-c" "mkdir $out" ]; };
in
{
  a = mk "bl-onjob-a";
  b = mk "bl-onjob-b" // { meta.description = "job b"; };
  agg = mk "bl-onjob-agg" // { _hydraAggregate = true; constituents = [ "a" ]; };
}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "release.nix"), []byte(release), 0o644))
	n := &Nix{Timeout: time.Minute, Backend: eval.BackendInstantiate, AllowedPaths: []string{nixtest.BusyboxDir()}}
	var passed []evaluation.Job
	res, err := n.Evaluate(context.Background(), evaluation.Request{
		NixExprInput: "src", NixExprPath: "release.nix",
		Inputs: []evaluation.Input{{Name: "src", Type: "path", StorePath: dir, Arg: evaluation.ArgPath}},
		OnJob:  func(j evaluation.Job) { passed = append(passed, j) },
	})
	require.NoError(t, err)
	require.Len(t, res.Jobs, 3)
	require.True(t, res.Jobs[1].IsAggregate, res.Jobs[1].Name)
	want := []evaluation.Job{res.Jobs[0], res.Jobs[2]}
	require.Equal(t, want, passed, "OnJob gets the jobs but the aggregate, as Result has them")
}
