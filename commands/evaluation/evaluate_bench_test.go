package evaluation_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
	"buildledger/adapters/postgres"
	"buildledger/commands/evaluation"
	"buildledger/domain/jobset"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
	"buildledger/projections/ledger"
)

// benchJobs is the size of the synthetic jobset; BENCH_JOBS overrides it.
func benchJobs() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_JOBS")); err == nil && n > 0 {
		return n
	}
	return 10000
}

// BenchmarkEvaluate10k evaluates a jobset of 10,000 jobs sharing a
// dependency chain: the whole evaluation (fetch, Nix, events, projection
// into the Hydra and ledger tables) against a bare nix-instantiate of the
// same expression, each with fresh derivations. The projections run
// alongside the evaluation, as the projector does; BENCH_PROJECT_AFTER=1
// runs them only once the evaluation has returned.
func BenchmarkEvaluate10k(b *testing.B) {
	n := benchJobs()
	w, _ := strconv.Atoi(os.Getenv("BENCH_EVAL_WORKERS"))
	e := newEnv(b, envOptions{maxAppendBytes: evaluation.DefaultMaxAppendBytes, recordChunk: evaluation.DefaultRecordChunk, evalWorkers: w})
	runner, err := projections.NewRunner(e.store, e.codec, postgres.NewReadModelDB(e.pool),
		[]projections.Projection{hydra.Projection{}, ledger.Projection{}}, projections.RunnerOptions{})
	require.NoError(b, err)
	catchUp := func() { _, err := runner.CatchUp(e.ctx); require.NoError(b, err) }
	if os.Getenv("BENCH_PROJECT_AFTER") != "1" {
		catchUp = runAlongside(b, e, runner)
	}
	var bare, whole, queued, nixEval, graph, record, lag time.Duration
	for i := range b.N {
		salt := fmt.Sprintf("%s-%d", e.salt, i)
		t0 := time.Now()
		out, err := exec.Command("nix-instantiate", jobsDir(b)+"/bench.nix", "--arg", "src", "./.", "--argstr", "salt", salt+"-bare",
			"--argstr", "n", strconv.Itoa(n)).CombinedOutput()
		require.NoError(b, err, "%s", out)
		bare += time.Since(t0)

		cfg := e.legacy("bench.nix", events.JobsetInput{Name: "n", Type: "string", Value: strconv.Itoa(n)})
		cfg.Inputs[1].Value = salt
		name := fmt.Sprintf("bench%d", i)
		e.createJobset(name, cfg)
		catchUp()
		t0 = time.Now()
		sum := e.evaluate(name, false)
		require.Equal(b, jobset.OutcomeFinished, sum.Outcome, sum.Error)
		require.Equal(b, n, sum.NewBuilds)
		evalDone := time.Since(t0)
		catchUp()
		whole += time.Since(t0)
		lag += time.Since(t0) - evalDone
		nixEval += sum.EvalTime
		graph += sum.GraphTime
		record += sum.RecordTime
		queued += time.Since(t0) - sum.EvalTime - sum.CheckoutTime
		require.Equal(b, n, e.count(`select count(*) from Builds b join Jobsets j on j.id = b.jobset_id where j.name = $1 and b.finished = 0`, name))

		b.StopTimer()
		nixtest.DeleteDerivations(b, append(storePaths(out), strings.Fields(e.str(`select string_agg(b.drvPath, ' ') from Builds b join Jobsets j on j.id = b.jobset_id where j.name = $1`, name))...))
		b.StartTimer()
	}
	per := func(d time.Duration) float64 { return d.Seconds() / float64(b.N) }
	b.ReportMetric(per(bare), "bare-nix-s")
	b.ReportMetric(per(nixEval), "our-nix-s")
	b.ReportMetric(per(graph), "graph-s")
	b.ReportMetric(per(record), "record-s")
	b.ReportMetric(per(queued), "eval-to-queued-s")
	b.ReportMetric(per(whole), "whole-s")
	b.ReportMetric(per(lag), "projection-lag-s")
	b.ReportMetric(whole.Seconds()/bare.Seconds(), "ratio")
}

// runAlongside runs runner until the benchmark ends and returns a function
// that waits until it has applied the log up to its current head.
func runAlongside(b *testing.B, e *env, runner *projections.Runner) func() {
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		require.NoError(b, <-done)
	})
	return func() {
		head, err := e.store.Head(ctx)
		require.NoError(b, err)
		for runner.Stats().Position.Less(head) {
			select {
			case err := <-done:
				require.FailNow(b, "projection runner stopped", "%v", err)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
}

// storePaths returns the lines of nix-instantiate's output that are store
// paths.
func storePaths(out []byte) []string {
	var paths []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "/nix/store/") {
			paths = append(paths, l)
		}
	}
	return paths
}
