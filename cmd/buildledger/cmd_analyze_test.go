package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
)

// schedulingLog records, at fixed times, machine m (one slot) building
// three steps of jobset p:big queued at T and one of p:small queued a
// second later, in arrival order (10 s each), and returns the database
// URL.
func schedulingLog(t *testing.T, t0 time.Time) string {
	t.Helper()
	ctx := context.Background()
	url := pgtest.URL(t)
	pool, err := postgres.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, postgres.Migrate(ctx, pool))
	store := pglog.New(pool, pglog.Options{})
	codec := events.NewCodec()
	add := func(stream string, at int64, p events.Payload) {
		ev, err := codec.Encode(p, events.Metadata{Actor: "component:test"}, t0.Add(time.Duration(at)*time.Second))
		require.NoError(t, err)
		_, err = store.Append(ctx, stream, events.Any, ev)
		require.NoError(t, err)
	}
	add("machine-m", 0, &events.MachineRegistered{Name: "m", MachineConfig: events.MachineConfig{MaxJobs: 1}})
	add("jobset-p.big", 0, &events.JobsetCreated{Project: "p", Name: "big", ID: 1, JobsetConfig: events.JobsetConfig{SchedulingShares: 100}})
	add("jobset-p.small", 0, &events.JobsetCreated{Project: "p", Name: "small", ID: 2, JobsetConfig: events.JobsetConfig{SchedulingShares: 100}})
	add("build-1", 0, &events.BuildQueued{BuildID: 1, JobsetID: 1, Project: "p", Jobset: "big", Timestamp: t0.Unix()})
	for _, d := range []string{"b1", "b2", "b3"} {
		add("step-"+d, 0, &events.StepQueued{DrvPath: d, BuildID: 1})
	}
	add("build-2", 1, &events.BuildQueued{BuildID: 2, JobsetID: 2, Project: "p", Jobset: "small", Timestamp: t0.Unix() + 1})
	add("step-s1", 1, &events.StepQueued{DrvPath: "s1", BuildID: 2})
	for i, d := range []string{"b1", "b2", "b3", "s1"} {
		start := int64(10 * i)
		add("step-"+d, start, &events.StepDispatched{DrvPath: d, Machine: "m", Attempt: 1, Timestamp: t0.Unix() + start})
		add("step-"+d, start+10, &events.StepFinished{DrvPath: d, Machine: "m", Attempt: 1,
			StartTime: t0.Unix() + start, StopTime: t0.Unix() + start + 10})
	}
	return url
}

func TestAnalyzeScheduling(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	url := schedulingLog(t, t0)
	out, code := runCLI(t, url, "analyze", "scheduling", "--from", "2026-11-25T11:00:00Z", "--to", "2026-11-25T13:00:00Z",
		"--policy", "shares")
	require.Equal(t, 0, code, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 5, out)
	require.Contains(t, lines[0], "4 steps queued from 2026-11-25T11:00:00Z to 2026-11-25T13:00:00Z on 1 machines")
	require.Equal(t, []string{"jobset", "steps", "recorded", "shares"}, strings.Fields(lines[1]))
	// Recorded: big waited 0, 10, 20 s and small 29 s; with fair shares
	// small goes second (9 s) and big's last waits 30 s.
	require.Equal(t, "p:big 3 10 / 20 / 20 20 / 30 / 30", strings.Join(strings.Fields(lines[2]), " "))
	require.Equal(t, "p:small 1 29 / 29 / 29 9 / 9 / 9", strings.Join(strings.Fields(lines[3]), " "))
	require.Equal(t, "makespan (s) 40 40", strings.Join(strings.Fields(lines[4]), " "))
}

func TestAnalyzeSchedulingRefusesBadInput(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	url := schedulingLog(t, t0)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", []string{"analyze"}, "usage: buildledger analyze scheduling"},
		{"unknown policy", []string{"--policy", "random"}, "want fifo, hydra, shares or critical-path"},
		{"bad time", []string{"--from", "yesterday"}, "--from \"yesterday\""},
		{"window backwards", []string{"--from", "2026-11-25T13:00:00Z", "--to", "2026-11-25T11:00:00Z"}, "is not after"},
		{"empty window", []string{"--from", "2026-11-26T00:00:00Z", "--to", "2026-11-27T00:00:00Z"}, "no step was queued"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"analyze"}
			if tc.name != "no subcommand" {
				args = append(args, "scheduling", "--from", "2026-11-25T11:00:00Z", "--to", "2026-11-25T13:00:00Z", "--policy", "fifo")
				args = append(args, tc.args...)
			}
			out, code := runCLI(t, url, args...)
			require.NotEqual(t, 0, code, out)
			require.Contains(t, out, tc.want)
		})
	}
}
