package evaluation_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands/evaluation"
	"buildledger/domain/jobset"
	"buildledger/events"
)

// earlyJobs is the real Nix evaluator made to report every job of its
// result through OnJob before it returns, whatever the adapter itself
// reports early; with fail set it then fails as a whole, as a time limit
// reached late in an evaluation would.
type earlyJobs struct {
	evaluation.Evaluator
	fail error
}

func (n earlyJobs) Evaluate(ctx context.Context, req evaluation.Request) (evaluation.Result, error) {
	onJob := req.OnJob
	req.OnJob = nil
	res, err := n.Evaluator.Evaluate(ctx, req)
	if err != nil {
		return res, err
	}
	for _, j := range res.Jobs {
		if !j.IsAggregate {
			onJob(j)
		}
	}
	if n.fail != nil {
		return evaluation.Result{}, n.fail
	}
	return res, nil
}

// TestFailureWithdrawsRecordedBuilds: an evaluation whose jobs were
// recorded while Nix ran and that then fails as a whole withdraws every
// build it queued: none is in Builds, and the previous evaluation and its
// builds are untouched.
func TestFailureWithdrawsRecordedBuilds(t *testing.T) {
	t.Parallel()
	var failing bool
	e := newEnv(t, envOptions{nix: func(n evaluation.Evaluator) evaluation.Evaluator {
		return nixSwitch{ok: earlyJobs{Evaluator: n}, failing: earlyJobs{Evaluator: n, fail: errors.New("evaluation timed out")}, fail: &failing}
	}})
	e.createJobset("j", e.legacy("release.nix"))
	first := e.evaluate("j", false)
	require.Equal(t, jobset.OutcomeFinished, first.Outcome, first.Error)
	e.project()
	before := e.builds(first.EvalID)
	require.NotEmpty(t, before)
	all := e.count(`select count(*) from Builds`)

	failing = true
	cfg := e.legacy("release.nix")
	cfg.Inputs[1].Value += "-changed" // new derivations: new builds
	e.updateJobset("j", cfg)
	sum := e.evaluate("j", true)
	require.Equal(t, jobset.OutcomeFailed, sum.Outcome)
	require.Equal(t, "evaluation timed out", sum.Error)
	e.project()
	require.Equal(t, all, e.count(`select count(*) from Builds`), "no build of the failed evaluation is left")
	require.Equal(t, before, e.builds(first.EvalID))
	require.Equal(t, "evaluation timed out", e.str(`select errorMsg from Jobsets where name = 'j'`))

	types := e.eventTypes()
	queued, withdrawn := types["BuildQueued"], types["BuildWithdrawn"]
	require.Positive(t, withdrawn, "the failed evaluation had queued builds")
	require.Equal(t, len(before)+withdrawn, queued)
}

// nixSwitch evaluates with ok, or with failing once *fail is set.
type nixSwitch struct {
	ok, failing evaluation.Evaluator
	fail        *bool
}

func (n nixSwitch) Evaluate(ctx context.Context, req evaluation.Request) (evaluation.Result, error) {
	if *n.fail {
		return n.failing.Evaluate(ctx, req)
	}
	return n.ok.Evaluate(ctx, req)
}

// TestEarlyJobsAcrossEvaluations: jobs recorded while Nix ran are the
// previous builds of the next evaluation, also for an evaluator that
// reads them back from the log rather than from memory.
func TestEarlyJobsAcrossEvaluations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{nix: func(n evaluation.Evaluator) evaluation.Evaluator { return earlyJobs{Evaluator: n} }})
	e.createJobset("j", e.legacy("release.nix"))
	first := e.evaluate("j", false)
	require.Equal(t, jobset.OutcomeFinished, first.Outcome, first.Error)
	require.Positive(t, first.NewBuilds)

	fresh := evaluation.New(e.rt, e.codec, e.alloc, e.ports, evaluation.Options{Host: testHost})
	second, err := fresh.Evaluate(e.ctx, e.evaluator, evaluation.Evaluate{Project: "p", Jobset: "j", Force: true})
	require.NoError(t, err)
	require.Equal(t, jobset.OutcomeFinished, second.Outcome, second.Error)
	require.Zero(t, second.NewBuilds)
	require.Equal(t, first.Builds, second.Builds)
	e.project()
	require.Equal(t, e.builds(first.EvalID), e.builds(second.EvalID))
}

// oneByOne is a store without the multi-stream append, so that the
// evaluator appends the streams of a chunk in parallel, in no fixed order.
type oneByOne struct{ events.Store }

// TestStepsInputsFirst: every StepQueued of an evaluation follows in the
// log those of the inputs it names, which the scheduler relies on to run
// a step before its evaluation ends; also when the store appends one
// stream at a time and the whole graph (a chain of five under twenty
// jobs) comes in one chunk.
func TestStepsInputsFirst(t *testing.T) {
	t.Parallel()
	for _, chunk := range []int{2, 100} {
		e := newEnv(t, envOptions{recordChunk: chunk, store: func(s events.Store) events.Store { return oneByOne{s} }})
		cfg := e.legacy("bench.nix", events.JobsetInput{Name: "n", Type: "string", Value: "20"})
		e.createJobset("j", cfg)
		sum := e.evaluate("j", false)
		require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
		recs, err := e.store.ReadAll(e.ctx, events.Start, 100000)
		require.NoError(t, err)
		seen := map[string]bool{}
		steps := 0
		for _, r := range recs {
			if r.Type != "StepQueued" {
				continue
			}
			p, err := e.codec.Decode(r)
			require.NoError(t, err)
			q := p.(*events.StepQueued)
			for _, in := range q.InputDrvs {
				require.True(t, seen[in], "chunk %d: %s is queued before its input %s", chunk, q.DrvPath, in)
			}
			seen[q.DrvPath] = true
			steps++
		}
		require.Equal(t, 25, steps, "chunk %d: the chain and the jobs", chunk)
	}
}

// probeFirstJob reports the jobs of the real evaluator's result through
// OnJob one by one, and calls after with the first job's name right after
// OnJob returned for it, before reporting the others.
type probeFirstJob struct {
	evaluation.Evaluator
	after func(job string)
}

func (n probeFirstJob) Evaluate(ctx context.Context, req evaluation.Request) (evaluation.Result, error) {
	onJob := req.OnJob
	req.OnJob = nil
	res, err := n.Evaluator.Evaluate(ctx, req)
	if err != nil {
		return res, err
	}
	first := true
	for _, j := range res.Jobs {
		if j.IsAggregate {
			continue
		}
		onJob(j)
		if first {
			n.after(j.Name)
			first = false
		}
	}
	return res, nil
}

// TestFirstJobRecordedAtOnce: with chunks of up to 500 jobs, the first job
// Nix reports is recorded before Nix reports the next one: its build and
// the steps of its closure are in the log, so the scheduler can start on
// them while Nix evaluates the rest; and the evaluation records what it
// would have recorded anyway.
func TestFirstJobRecordedAtOnce(t *testing.T) {
	t.Parallel()
	var e *env
	var queued, steps int
	var job string
	e = newEnv(t, envOptions{recordChunk: evaluation.DefaultRecordChunk, nix: func(n evaluation.Evaluator) evaluation.Evaluator {
		return probeFirstJob{Evaluator: n, after: func(name string) {
			job = name
			types := e.eventTypes()
			queued, steps = types["BuildQueued"], types["StepQueued"]
		}}
	}})
	e.createJobset("j", e.legacy("bench.nix", events.JobsetInput{Name: "n", Type: "string", Value: "20"}))
	sum := e.evaluate("j", false)
	require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
	require.Equal(t, 1, queued, "the build of %s", job)
	require.Equal(t, 6, steps, "%s and the chain of five it needs", job)
	require.Equal(t, 20, sum.NewBuilds)
	require.Equal(t, 25, sum.Steps)
}
