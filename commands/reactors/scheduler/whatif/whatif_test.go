package whatif_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/commands/reactors/scheduler/whatif"
	"buildledger/events"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// log is a recorded history: machine m (one slot); jobset big (1)
// queues b1, b2, b3 at t0, small (2) queues s1 a second later, and d
// (big) depends on b1. They ran in arrival order, as FIFO would:
//
//	b1 0-10, b2 10-20, b3 20-30, s1 30-40, d 40-70
type entry struct {
	p  events.Payload
	at int64
}

func history() []entry {
	var log []entry
	add := func(at int64, p events.Payload) { log = append(log, entry{p, at}) }
	add(0, &events.MachineRegistered{Name: "m", MachineConfig: events.MachineConfig{MaxJobs: 1}})
	add(0, &events.JobsetCreated{Project: "p", Name: "big", ID: 1, JobsetConfig: events.JobsetConfig{SchedulingShares: 100}})
	add(0, &events.JobsetCreated{Project: "p", Name: "small", ID: 2, JobsetConfig: events.JobsetConfig{SchedulingShares: 100}})
	add(0, &events.BuildQueued{BuildID: 1, JobsetID: 1, Project: "p", Jobset: "big"})
	add(1, &events.BuildQueued{BuildID: 2, JobsetID: 2, Project: "p", Jobset: "small"})
	for _, d := range []string{"b1", "b2", "b3"} {
		add(0, &events.StepQueued{DrvPath: d, BuildID: 1})
	}
	add(0, &events.StepQueued{DrvPath: "d", BuildID: 1, InputDrvs: []string{"b1"}})
	add(1, &events.StepQueued{DrvPath: "s1", BuildID: 2})
	run := func(d string, start, stop int64) {
		add(start, &events.StepDispatched{DrvPath: d, Machine: "m", Attempt: 1, Timestamp: t0.Unix() + start})
		add(stop, &events.StepFinished{DrvPath: d, Machine: "m", Attempt: 1, StartTime: t0.Unix() + start, StopTime: t0.Unix() + stop})
	}
	run("b1", 0, 10)
	run("b2", 10, 20)
	run("b3", 20, 30)
	run("s1", 30, 40)
	run("d", 40, 70)
	return log
}

func record(from, to time.Time) whatif.Recording {
	r := whatif.NewRecorder(from, to)
	for _, e := range history() {
		r.Add(e.p, t0.Add(time.Duration(e.at)*time.Second))
	}
	return r.Recording()
}

func TestReplay(t *testing.T) {
	rec := record(t0, t0.Add(time.Hour))
	require.Len(t, rec.Steps, 5)
	got := whatif.Recorded(rec)
	require.Equal(t, map[string][]int64{"p:big": {0, 10, 20, 30}, "p:small": {29}}, got.PerJobset)
	require.Equal(t, int64(70), got.Makespan)

	for _, tc := range []struct {
		policy   whatif.Policy
		big      []int64
		small    []int64
		makespan int64
	}{
		// FIFO: as recorded; d became runnable at 10, ran last.
		{whatif.FIFO, []int64{0, 10, 20, 30}, []int64{29}, 70},
		// Shares: at 10 big used 10 s, small nothing: s1 goes first.
		{whatif.Shares, []int64{0, 20, 30, 30}, []int64{9}, 70},
		// Hydra: shares first too, then the order of runnability.
		{whatif.Hydra, []int64{0, 20, 30, 30}, []int64{9}, 70},
		// Critical path: b1 (then d, 40 s in all) first, d as soon as
		// it can run, then FIFO.
		{whatif.CriticalPath, []int64{0, 0, 40, 50}, []int64{59}, 70},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			w := whatif.Replay(rec, tc.policy)
			require.ElementsMatch(t, tc.big, w.PerJobset["p:big"])
			require.Equal(t, tc.small, w.PerJobset["p:small"])
			require.Equal(t, tc.makespan, w.Makespan)
		})
	}
}

func TestWindow(t *testing.T) {
	// Only s1 was queued after t0+0.5 s; b1..d are outside the window.
	rec := record(t0.Add(500*time.Millisecond), t0.Add(time.Hour))
	require.Len(t, rec.Steps, 1)
	require.Equal(t, "s1", rec.Steps[0].Drv)
}

func TestPercentile(t *testing.T) {
	xs := []int64{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	require.Equal(t, int64(5), whatif.Percentile(xs, 50))
	require.Equal(t, int64(10), whatif.Percentile(xs, 95))
	require.Equal(t, int64(10), whatif.Percentile(xs, 99))
	require.Zero(t, whatif.Percentile(nil, 50))
}

func TestParsePolicy(t *testing.T) {
	for _, ok := range []string{"fifo", "hydra", "shares", "critical-path"} {
		_, err := whatif.ParsePolicy(ok)
		require.NoError(t, err)
	}
	_, err := whatif.ParsePolicy("random")
	require.ErrorContains(t, err, "want fifo, hydra, shares or critical-path")
}
