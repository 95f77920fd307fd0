package evaluation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"buildledger/commands"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// EvaluateNow is Evaluate for a person asking for an evaluation now: when
// one of the jobset is already running (the evaluator started it, for
// instance right after the jobset was created), it waits for that one
// instead of refusing. Without Force, the running evaluation answers the
// request, since it fetched the inputs as they are now, and its summary
// is returned; with Force, a new evaluation follows it.
func (s *Service) EvaluateNow(ctx context.Context, md events.Metadata, cmd Evaluate) (Summary, error) {
	md, err := s.metadata(md)
	if err != nil {
		return Summary{Project: cmd.Project, Jobset: cmd.Jobset}, err
	}
	for {
		sum, err := s.Evaluate(ctx, md, cmd)
		if !errors.Is(err, jobset.ErrEvaluating) {
			return sum, err
		}
		awaited, err := s.awaitClose(ctx, cmd.Project, cmd.Jobset, cmd.Waiting)
		if err != nil {
			return sum, err
		}
		if awaited != 0 && !cmd.Force {
			return s.summaryOf(ctx, cmd.Project, cmd.Jobset, awaited)
		}
	}
}

// awaitClose waits until the jobset has no open evaluation and returns
// the id of the one it waited for, 0 if none was open any more. It calls
// waiting, if set, before it waits.
func (s *Service) awaitClose(ctx context.Context, project, name string, waiting func(int64)) (int64, error) {
	stream := streams.Jobset(project, name)
	l, err := commands.Load(ctx, s.rt, stream, commands.JobsetAggregate)
	if err != nil {
		return 0, err
	}
	if l.State.Open == nil {
		return 0, nil
	}
	id := l.State.Open.EvalID
	if waiting != nil {
		waiting(id)
	}
	tick := time.NewTicker(s.opts.AwaitPoll)
	defer tick.Stop()
	for l.State.Open != nil && l.State.Open.EvalID == id {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("wait for evaluation %d of %s:%s: %w", id, project, name, context.Cause(ctx))
		case <-tick.C:
		}
		if l, err = commands.CatchUp(ctx, s.rt, stream, commands.JobsetAggregate, l); err != nil {
			return 0, err
		}
	}
	return id, nil
}

// summaryOf reads the summary of evaluation id, which has ended, from its
// stream. The times are whole seconds, as the events record them.
func (s *Service) summaryOf(ctx context.Context, project, name string, id int64) (Summary, error) {
	l, err := commands.Load(ctx, s.rt, streams.Eval(id), evalEndAggregate)
	if err != nil {
		return Summary{}, err
	}
	sum := l.State
	if sum.Outcome == "" {
		return sum, fmt.Errorf("evaluation %d of %s:%s ended without a finished, cached or failed event", id, project, name)
	}
	sum.Project, sum.Jobset, sum.EvalID = project, name, id
	return sum, nil
}

// evalEndAggregate folds an evaluation's stream, as read from the log
// (payloads decode to pointers), into the Summary its end records.
var evalEndAggregate = commands.Aggregate[Summary]{Name: "evaluation", Evolve: func(s Summary, p events.Payload) Summary {
	switch e := p.(type) {
	case *events.EvaluationFinished:
		return Summary{Outcome: jobset.OutcomeFinished, Jobs: e.NrJobs, Builds: e.NrBuilds, NewBuilds: e.NrNewBuilds,
			CachedBuilds: e.NrCachedBuilds, Steps: e.NrSteps, Errors: e.NrErrors, HasNewBuilds: e.HasNewBuilds,
			Hash: e.Hash, CheckoutTime: time.Duration(e.CheckoutTime) * time.Second,
			EvalTime: time.Duration(e.EvalTime) * time.Second}
	case *events.EvaluationCached:
		return Summary{Outcome: jobset.OutcomeCached, CachedFrom: e.EvalID, Hash: e.Hash}
	case *events.EvaluationFailed:
		return Summary{Outcome: jobset.OutcomeFailed, Phase: e.Phase, Error: e.Error}
	}
	return s
}}
