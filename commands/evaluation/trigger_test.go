package evaluation_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/commands/evaluation"
	"buildledger/domain/jobset"
	"buildledger/domain/project"
	"buildledger/domain/streams"
	"buildledger/events"
)

func (e *env) appendTo(stream string, expect events.Revision, ps ...events.Payload) {
	e.t.Helper()
	var evs []events.Event
	for _, p := range ps {
		ev, err := e.codec.Encode(p, e.admin, e.rt.Clock().Now())
		require.NoError(e.t, err)
		evs = append(evs, ev)
	}
	_, err := e.store.Append(e.ctx, stream, expect, evs...)
	require.NoError(e.t, err)
}

// startTrigger runs a trigger until the test ends and returns the
// channel of its finished evaluations.
func (e *env) startTrigger(opts evaluation.TriggerOptions) <-chan evaluation.Summary {
	done := make(chan evaluation.Summary, 16)
	opts.OnDone = func(s evaluation.Summary, err error) {
		if err == nil {
			done <- s
		}
	}
	opts.Poll = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(e.ctx)
	stopped := make(chan error)
	go func() { stopped <- evaluation.NewTrigger(e.svc, opts).Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		require.NoError(e.t, <-stopped)
	})
	return done
}

func waitDone(t *testing.T, done <-chan evaluation.Summary) evaluation.Summary {
	t.Helper()
	select {
	case s := <-done:
		return s
	case <-time.After(60 * time.Second):
		t.Fatal("no evaluation finished")
	}
	return evaluation.Summary{}
}

// TestTriggerRequestAndRecovery: at start the trigger closes an
// evaluation a crashed evaluator left open, with nothing of it in the read
// models; the request that evaluation served stays pending, so the jobset
// is evaluated again at once (as Hydra's triggertime survives a dead
// evaluator); a one-shot jobset is disabled after its evaluation.
func TestTriggerRequestAndRecovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	cfg := e.legacy("small.nix")
	cfg.Enabled = 2 // one-shot
	e.createJobset("j", cfg)

	// A crashed evaluation of a request (checkInterval is 0: only a
	// request starts one): opened, started, one job staged and its build
	// queued.
	_, err := e.h.RequestEvaluation(e.ctx, e.admin, commands.RequestEvaluation{Project: "p", Jobset: "j", Reason: "ui"})
	require.NoError(t, err)
	started := time.Now().Unix() + 1
	e.appendTo(streams.Jobset("p", "j"), events.Any, &events.EvaluationOpened{EvalID: 9999, Project: "p", Jobset: "j", Host: testHost, StartTime: started})
	e.appendTo(streams.Eval(9999), events.NoStream,
		&events.EvaluationStarted{EvalID: 9999, Project: "p", Jobset: "j", JobsetID: 1, StartTime: started},
		&events.JobEvaluated{EvalID: 9999, Job: "x", BuildID: 12345, IsNew: true})
	e.appendTo(streams.Build(12345), events.NoStream, &events.BuildQueued{BuildID: 12345, EvalID: 9999, JobsetID: 1,
		Project: "p", Jobset: "j", Job: "x", DrvPath: "/nix/store/00000000000000000000000000000000-x.drv", System: "x86_64-linux"})
	_, err = e.svc.Evaluate(e.ctx, e.evaluator, evaluation.Evaluate{Project: "p", Jobset: "j"})
	require.ErrorIs(t, err, jobset.ErrEvaluating, "the open evaluation holds the jobset")

	done := e.startTrigger(evaluation.TriggerOptions{MaxConcurrent: 2})
	sum := waitDone(t, done)
	require.Equal(t, jobset.OutcomeFinished, sum.Outcome, sum.Error)
	failed := e.streamEvents(streams.Eval(9999))
	f, ok := failed[len(failed)-1].(*events.EvaluationFailed)
	require.True(t, ok, "the crashed evaluation ends failed")
	require.Equal(t, evaluation.InterruptedMessage, f.Error)
	require.True(t, f.Interrupted)
	e.project()
	require.Zero(t, e.count(`select count(*) from eval_staging_members`))
	require.Equal(t, 1, e.count(`select count(*) from JobsetEvals`), "the request's evaluation, not the crashed one")
	require.Zero(t, e.count(`select count(*) from Builds where id = 12345`), "the build it queued is withdrawn")
	require.Eventually(t, func() bool {
		e.project()
		return e.count(`select enabled from Jobsets where name = 'j'`) == 0
	}, 5*time.Second, 50*time.Millisecond, "one-shot jobset disabled")
	require.Equal(t, 0, e.count(`select count(*) from Jobsets where triggerTime is not null`))
}

// TestTriggerCheckInterval: a polled jobset is evaluated when its check
// interval elapsed, never twice at once, and a one-at-a-time jobset waits
// while its latest evaluation has unfinished builds.
func TestTriggerCheckInterval(t *testing.T) {
	t.Parallel()
	// The trigger's clock runs ahead by a check interval after each
	// evaluation, so that the test does not wait a minute.
	var skew atomic.Int64
	clock := commands.ClockFunc(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	e := newEnv(t, envOptions{clock: clock})
	polled := e.legacy("small.nix")
	polled.CheckInterval = jobset.MinCheckInterval
	e.createJobset("polled", polled)
	oneAtATime := e.legacy("collide.nix")
	oneAtATime.CheckInterval = jobset.MinCheckInterval
	oneAtATime.Enabled = 3
	e.createJobset("oaat", oneAtATime)

	done := e.startTrigger(evaluation.TriggerOptions{MaxConcurrent: 1})
	seen := map[string][]string{}
	deadline := time.After(60 * time.Second)
	for len(seen["polled"]) < 2 || len(seen["oaat"]) < 1 {
		select {
		case s := <-done:
			seen[s.Jobset] = append(seen[s.Jobset], s.Outcome)
			skew.Add(int64(jobset.MinCheckInterval * time.Second))
			e.project()
		case <-deadline:
			t.Fatalf("evaluations seen: %v", seen)
		}
	}
	require.Equal(t, []string{jobset.OutcomeFinished, jobset.OutcomeCached}, seen["polled"][:2])
	// oaat's builds are unfinished: it is not evaluated again.
	e.project()
	time.Sleep(1500 * time.Millisecond)
	for len(done) > 0 {
		s := <-done
		seen[s.Jobset] = append(seen[s.Jobset], s.Outcome)
	}
	require.Len(t, seen["oaat"], 1, "one-at-a-time waits for its builds")
}

// TestConcurrentEvaluations: two evaluations of one jobset at once: one
// runs; the other is refused while it runs, or, when it comes too late
// for that, finds the inputs it evaluated unchanged. Never two.
func TestConcurrentEvaluations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.createJobset("j", e.legacy("collide.nix"))
	type result struct {
		sum evaluation.Summary
		err error
	}
	res := make(chan result, 2)
	for range 2 {
		go func() {
			sum, err := e.svc.Evaluate(e.ctx, e.evaluator, evaluation.Evaluate{Project: "p", Jobset: "j"})
			res <- result{sum, err}
		}()
	}
	outcomes := map[string]int{}
	for range 2 {
		r := <-res
		switch {
		case r.err == nil:
			outcomes[r.sum.Outcome]++
		case errors.Is(r.err, jobset.ErrEvaluating):
			outcomes["refused"]++
		default:
			t.Fatal(r.err)
		}
	}
	require.Equal(t, 1, outcomes[jobset.OutcomeFinished], "%v", outcomes)
	require.Equal(t, 1, outcomes["refused"]+outcomes[jobset.OutcomeCached], "%v", outcomes)
}

// TestDueCheckInterval: a jobset is polled no more often than the minimum
// interval, even when an event recorded before the minimum existed set a
// shorter one; 0 still means never.
func TestDueCheckInterval(t *testing.T) {
	p := project.State{Exists: true, Name: "p", Config: events.ProjectConfig{Enabled: true}}
	for _, tc := range []struct {
		name     string
		interval int
		after    int64
		due      bool
	}{
		{"old event with 1 s, 1 s later", 1, 1, false},
		{"old event with 1 s, 59 s later", 1, 59, false},
		{"old event with 1 s, 60 s later", 1, 60, true},
		{"300 s, 299 s later", 300, 299, false},
		{"300 s, 300 s later", 300, 300, true},
		{"0, a day later", 0, 86400, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var js jobset.State
			js = jobset.EvolveAt(js, &events.JobsetCreated{Project: "p", Name: "j", ID: 1,
				JobsetConfig: events.JobsetConfig{Enabled: jobset.Enabled, CheckInterval: tc.interval, SchedulingShares: 1}}, events.Position{Commit: 2})
			js.LastChecked = 1000
			require.Equal(t, tc.due, evaluation.Due(js, p, 1000+tc.after))
		})
	}
}

// TestTriggerFollowsProjectRename: a polled jobset of a renamed project
// goes on being evaluated on its schedule, under the project's new name,
// and its evaluations stay the jobset's (same id) in the read models.
func TestTriggerFollowsProjectRename(t *testing.T) {
	t.Parallel()
	var skew atomic.Int64
	clock := commands.ClockFunc(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	e := newEnv(t, envOptions{clock: clock})
	polled := e.legacy("small.nix")
	polled.CheckInterval = jobset.MinCheckInterval
	e.createJobset("polled", polled)

	done := e.startTrigger(evaluation.TriggerOptions{MaxConcurrent: 1})
	first := waitDone(t, done)
	require.Equal(t, "p", first.Project)
	require.Equal(t, jobset.OutcomeFinished, first.Outcome, first.Error)
	e.project()
	id := e.count(`select id from Jobsets where project = 'p' and name = 'polled'`)

	// The rename waits for the evaluation to be closed in the log.
	require.Eventually(t, func() bool {
		_, err := e.h.RenameProject(e.ctx, e.admin, commands.RenameProject{Name: "p", NewName: "q",
			Config: events.ProjectConfig{DisplayName: "P", Owner: "alice", Enabled: true}})
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	skew.Add(int64(jobset.MinCheckInterval * time.Second))
	next := waitDone(t, done)
	require.Equal(t, "q", next.Project, "evaluated under the new name")
	require.Equal(t, "polled", next.Jobset)
	e.project()
	require.Equal(t, id, e.count(`select id from Jobsets where project = 'q' and name = 'polled'`), "the jobset keeps its id")
	require.Equal(t, 0, e.count(`select count(*) from Jobsets where project = 'p'`))
	require.GreaterOrEqual(t, e.count(`select count(*) from JobsetEvals where jobset_id = `+strconv.Itoa(id)), 1,
		"its evaluations stay its own")
}
