package eval

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"buildledger/commands/evaluation"

	"github.com/stretchr/testify/require"
)

// jobLog collects the jobs passed to OnJob and notes calls that overlap.
// Its slice is not locked, so the race detector reports calls from two
// goroutines at once too.
type jobLog struct {
	busy    atomic.Bool
	overlap atomic.Bool
	jobs    []evaluation.Job
}

func (l *jobLog) onJob(j evaluation.Job) {
	if !l.busy.CompareAndSwap(false, true) {
		l.overlap.Store(true)
	}
	l.jobs = append(l.jobs, j)
	l.busy.Store(false)
}

// newFIFO makes a FIFO in dir and returns its path. A jobset that reads
// it is allowed its directory (Request.AllowedPaths).
func newFIFO(t *testing.T, dir string) string {
	t.Helper()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	return fifo
}

// evaluateReleasing evaluates req with an OnJob that logs each job and,
// when it gets job, writes fifo, which Nix waits on; it requires the
// evaluation and the write to succeed and returns the result and the log.
// The write runs on a goroutine of its own: opening a FIFO blocks until its
// reader opens it, and a failing test must not hang in OnJob.
func evaluateReleasing(t *testing.T, req Request, job, fifo string) (evaluation.Result, *jobLog) {
	t.Helper()
	log := &jobLog{}
	wrote := make(chan error, 1)
	req.OnJob = func(j evaluation.Job) {
		log.onJob(j)
		if j.Name == job {
			go func() { wrote <- os.WriteFile(fifo, []byte("written by OnJob"), 0o600) }()
		}
	}
	res, err := Evaluate(context.Background(), req)
	require.NoError(t, err)
	require.NoError(t, <-wrote)
	return res, log
}

// requireOnJobAgrees checks that passed holds every job of res that is not
// an aggregate exactly once, as res has it; a passed job missing from
// res.Jobs must have failed on a name collision.
func requireOnJobAgrees(t *testing.T, res evaluation.Result, passed []evaluation.Job) {
	t.Helper()
	var want, got []evaluation.Job
	for _, j := range res.Jobs {
		if !j.IsAggregate {
			want = append(want, j)
		}
	}
	for _, j := range passed {
		require.False(t, j.IsAggregate, "aggregate %s passed", j.Name)
		if msg, failed := res.Errors[j.Name]; failed {
			require.Contains(t, msg, "job name collision", "failed job %s passed", j.Name)
			continue
		}
		got = append(got, j)
	}
	sortJobs(got)
	require.Equal(t, want, got)
}

func TestEvaluateOnJob(t *testing.T) {
	requireNix(t)
	t.Parallel()
	basicInputs := map[string]Input{
		"flag":     {Kind: KindBool, Value: "true"},
		"greeting": {Kind: KindString, Value: "hi"},
	}
	tests := []struct {
		file    string
		inputs  map[string]Input
		workers int
		// collisions is how many passed jobs fail on a name collision.
		collisions int
	}{
		{file: "basic.nix", inputs: basicInputs, workers: 1},
		{file: "basic.nix", inputs: basicInputs, workers: 2},
		{file: "broken.nix", workers: 1},
		{file: "broken.nix", workers: 3},
		{file: "constituents.nix", workers: 1},
		{file: "constituents.nix", workers: 2},
		{file: "late-crash.nix", workers: 1},
		{file: "late-crash.nix", workers: 2},
		{file: "many-aborts.nix", workers: 1},
		{file: "collide.nix", workers: 1, collisions: 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/workers=%d", tt.file, tt.workers), func(t *testing.T) {
			t.Parallel()
			req := legacy(t, tt.file, tt.inputs)
			req.Workers = tt.workers
			var log jobLog
			req.OnJob = log.onJob
			res, err := Evaluate(context.Background(), req)
			require.NoError(t, err)
			require.False(t, log.overlap.Load(), "OnJob calls overlapped")
			requireOnJobAgrees(t, res, log.jobs)
			nonAggregates := 0
			for _, j := range res.Jobs {
				if !j.IsAggregate {
					nonAggregates++
				}
			}
			require.Len(t, log.jobs, nonAggregates+tt.collisions)
		})
	}
}

// TestEvaluateOnJobBeforeNixExits shows that OnJob learns of a job while
// Nix is still running: job z of ordered.nix reads a FIFO that only the
// OnJob call for job a writes, so Nix could not end (before the time limit)
// if OnJob were called after it.
func TestEvaluateOnJobBeforeNixExits(t *testing.T) {
	requireNix(t)
	t.Parallel()
	fifo := newFIFO(t, t.TempDir())
	req := legacy(t, "ordered.nix", map[string]Input{"fifo": {Kind: KindString, Value: fifo}})
	req.AllowedPaths = append(req.AllowedPaths, filepath.Dir(fifo))
	res, log := evaluateReleasing(t, req, "a", fifo)
	require.Equal(t, []string{"a", "b", "z"}, jobNames(res))
	requireOnJobAgrees(t, res, log.jobs)
}
