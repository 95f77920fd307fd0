package scheduler

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/events"
)

// TestEvictSharedSteps: evicting some of the builds that share steps
// (stdenv's fan-in) leaves exactly the others in those steps' lists, and
// forgets a step once no build or step left needs it, whatever the order
// the builds were evicted in.
func TestEvictSharedSteps(t *testing.T) {
	m := NewModel(Config{EvictAfter: 60})
	m.Apply(&events.JobsetCreated{Project: "p", Name: "j", ID: 1})
	step := func(name string, inputs ...string) string {
		d := fmt.Sprintf("/nix/store/%032d-%s.drv", len(m.steps), name)
		m.Apply(&events.StepQueued{DrvPath: d, System: "x86_64-linux", InputDrvs: inputs})
		return d
	}
	stdenv := step("stdenv")
	lib := step("lib", stdenv)
	const n = 10
	for i := 1; i <= n; i++ {
		d := step(fmt.Sprint("pkg", i), stdenv, lib)
		m.Apply(&events.BuildQueued{BuildID: int64(i), JobsetID: 1, DrvPath: d, System: "x86_64-linux"})
	}
	require.Len(t, m.steps[stdenv].builds, n)
	require.Len(t, m.steps[stdenv].rdeps, n+1)

	// The even builds are cancelled at time 100, the odd ones at 200.
	for i := 2; i <= n; i += 2 {
		m.Apply(&events.BuildFinished{BuildID: int64(i), Status: 4, StopTime: 100})
	}
	for i := 1; i <= n; i += 2 {
		m.Apply(&events.BuildFinished{BuildID: int64(i), Status: 4, StopTime: 200})
	}
	builds, steps := m.Evict(170)
	require.Equal(t, n/2, builds)
	require.Equal(t, n/2, steps, "the even packages")
	for _, d := range []string{stdenv, lib} {
		var left []int64
		for _, b := range m.steps[d].builds {
			left = append(left, b.id)
		}
		require.Equal(t, []int64{1, 3, 5, 7, 9}, left, d)
	}
	require.Len(t, m.steps[stdenv].rdeps, n/2+1)

	builds, steps = m.Evict(300)
	require.Equal(t, n/2, builds)
	require.Equal(t, n/2+2, steps, "the odd packages, lib, then stdenv")
	require.Empty(t, m.steps)
	require.Empty(t, m.builds)
}
