package evaluator

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands/evaluation"
	"buildledger/events"
)

// systemBuilds is a BuildLookup with the given latest successes per
// system, recording what it was asked.
type systemBuilds struct {
	builds []SystemBuild
	asked  []string
}

func (s *systemBuilds) LatestSuccessful(context.Context, string, string, string) (Build, bool, error) {
	return Build{}, false, nil
}

func (s *systemBuilds) LatestSuccessfulPerSystem(_ context.Context, project, jobset, job string) ([]SystemBuild, error) {
	s.asked = append(s.asked, project+":"+jobset+":"+job)
	return s.builds, nil
}

func (s *systemBuilds) EvalOutputs(context.Context, int64, string, string, string) (EvalOutputs, error) {
	return EvalOutputs{}, nil
}

// TestSysbuildInput: as in Hydra, a sysbuild input with no success is
// left out, with one is that build, and with successes on several
// systems (several alternatives) fails with Hydra's message.
func TestSysbuildInput(t *testing.T) {
	linux := SystemBuild{Build: Build{ID: 7, OutPath: "/nix/store/aaaa-dep"}, System: "x86_64-linux"}
	darwin := SystemBuild{Build: Build{ID: 8, OutPath: "/nix/store/bbbb-dep"}, System: "aarch64-darwin"}
	in := events.JobsetInput{Name: "dep", Type: "sysbuild", Value: "other:dep"}

	lookup := &systemBuilds{}
	i := &Inputs{Builds: lookup}
	got, err := i.Fetch(context.Background(), "p", "j", in)
	require.NoError(t, err)
	require.True(t, got.Omit)
	require.Equal(t, []string{"p:other:dep"}, lookup.asked, "the project defaults to the jobset's")

	lookup.builds = []SystemBuild{linux}
	got, err = i.Fetch(context.Background(), "p", "j", in)
	require.NoError(t, err)
	require.Equal(t, evaluation.Input{Name: "dep", Type: "sysbuild", Value: "other:dep", StorePath: linux.OutPath,
		DependencyBuild: 7, Arg: evaluation.ArgPath}, got)

	lookup.builds = []SystemBuild{darwin, linux}
	_, err = i.Fetch(context.Background(), "p", "j", in)
	require.ErrorContains(t, err, "multiple jobset input alternatives are no longer supported")
	require.ErrorContains(t, err, "aarch64-darwin, x86_64-linux")

	_, err = i.Fetch(context.Background(), "p", "j", events.JobsetInput{Name: "dep", Type: "sysbuild", Value: "a:b:c:d"})
	require.ErrorContains(t, err, "want [project:][jobset:]job")
}
