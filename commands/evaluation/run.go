package evaluation

import (
	"context"
	"fmt"
	"time"

	"buildledger/commands"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// run is one evaluation in progress.
type run struct {
	s      *Service
	md     events.Metadata
	state  jobset.State
	evalID int64
	start  time.Time
	force  bool
	eval   *streamWriter
	sum    *Summary
	// rec records the jobs while Nix evaluates; nil before.
	rec *recorder
}

func (r *run) now() time.Time { return r.s.rt.Clock().Now() }

// fetched is what fetching a jobset's inputs gave.
type fetched struct {
	inputs []Input
	// locked is the locked reference of a flake.
	locked string
	hash   string
	// failure is the fetch error to record, "" when every input came.
	failure      string
	checkoutTime time.Duration
}

// okHash is the inputs' hash when every input came, else "".
func (f fetched) okHash() string {
	if f.failure != "" {
		return ""
	}
	return f.hash
}

// fetch fetches the inputs of js (or locks its flake) and hashes them. A
// failed fetch is reported in fetched.failure; the error is ctx's.
func (s *Service) fetch(ctx context.Context, js jobset.State) (f fetched, err error) {
	cfg := js.Config
	start := time.Now()
	defer func() { f.checkoutTime = time.Since(start) }()
	s.clearCaches(ctx)
	if cfg.Type == jobset.TypeFlake {
		locked, err := s.ports.Inputs.LockFlake(ctx, cfg.Flake)
		if err != nil {
			f.failure = fmt.Sprintf("error fetching flake ‘%s’: %v", cfg.Flake, err)
			return f, ctx.Err()
		}
		f.locked = locked
	} else {
		for _, in := range cfg.Inputs {
			got, err := s.ports.Inputs.Fetch(ctx, js.Project, js.Name, in)
			if err != nil {
				f.failure = fmt.Sprintf("error fetching input ‘%s’ (%s %s): %v", in.Name, in.Type, in.Value, err)
				return f, ctx.Err()
			}
			if !got.Omit {
				f.inputs = append(f.inputs, got)
			}
		}
	}
	f.hash = InputsHash(cfg, f.locked, f.inputs)
	return f, nil
}

// do carries the evaluation, whose inputs f holds, from
// EvaluationStarted to EvaluationClosed. Errors it returns are failures
// of the ledger or cancellation; failures of the evaluation are recorded
// and return nil.
func (r *run) do(ctx context.Context, f fetched) error {
	js := r.state
	err := r.s.appendChunked(ctx, r.eval, r.md, &events.EvaluationStarted{EvalID: r.evalID, Project: js.Project,
		Jobset: js.Name, JobsetID: js.ID, StartTime: r.start.Unix()})
	if err != nil {
		return err
	}
	if f.failure != "" {
		return r.fail(ctx, "fetch", f.failure)
	}
	cfg, inputs, locked, hash := js.Config, f.inputs, f.locked, f.hash
	fetched := make([]events.Payload, len(inputs))
	for i, in := range inputs {
		fetched[i] = &events.InputFetched{EvalID: r.evalID, Name: in.Name, Type: in.Type, URI: in.URI,
			Revision: in.Revision, Value: in.Value, StorePath: in.StorePath, SHA256: in.SHA256,
			ShortRevLength: in.ShortRevLength, DependencyBuild: in.DependencyBuild}
	}
	if err := r.s.appendChunked(ctx, r.eval, r.md, fetched...); err != nil {
		return err
	}

	// Evaluate, recording the jobs as Nix finds them.
	prev, err := r.s.previousBuilds(ctx, r.state.LastWithNewBuilds)
	if err != nil {
		return err
	}
	res, err := r.evaluate(ctx, prev, Request{NixExprInput: cfg.NixExprInput, NixExprPath: cfg.NixExprPath,
		Inputs: inputs, Flake: locked})
	if err != nil {
		return err
	}
	if res == nil {
		return nil // recorded as failed
	}
	if res.FlakeURL != "" {
		locked = res.FlakeURL
	}
	return r.record(ctx, hash, locked, *res)
}

// evaluate runs Nix with a recorder taking the jobs as they come. It
// returns Nix's result, or nil when the evaluation failed and was
// recorded so; errors are failures of the ledger or cancellation.
func (r *run) evaluate(ctx context.Context, prev map[string]prevBuild, req Request) (*Result, error) {
	r.rec = newRecorder(r, prev)
	nixCtx, stop := context.WithCancel(ctx)
	defer stop()
	limit := r.s.opts.MaxJobs
	seen, over := 0, false
	req.OnJob = func(j Job) {
		if seen++; seen > limit {
			// Nix is stopped at once; what was recorded is withdrawn below.
			over = true
			stop()
			return
		}
		r.rec.add(nixCtx, stop, j)
	}
	start := time.Now()
	res, nixErr := r.s.ports.Nix.Evaluate(nixCtx, req)
	r.sum.EvalTime = time.Since(start)
	for _, w := range res.Warnings {
		r.s.log.WarnContext(ctx, "evaluation warning", "eval", r.evalID, "warning", w)
	}
	over = over || nixErr == nil && len(res.Jobs)+len(res.Errors) > limit
	if nixErr == nil && !over {
		r.rec.flush(nixCtx, stop)
	}
	r.sum.GraphTime = r.rec.graphTime
	switch {
	case r.rec.err != nil:
		return nil, r.rec.err
	case over && ctx.Err() == nil:
		return nil, r.fail(ctx, "eval", fmt.Sprintf("the jobset has more than %d jobs, the most one evaluation may have", limit))
	case r.rec.graphErr != nil:
		return nil, r.fail(ctx, "eval", fmt.Sprintf("reading the build graph: %v", r.rec.graphErr))
	case nixErr != nil && ctx.Err() != nil:
		return nil, ctx.Err()
	case nixErr != nil:
		return nil, r.fail(ctx, "eval", nixErr.Error())
	}
	return &res, nil
}

// record finishes a successful Nix evaluation: it reconciles the jobs
// recorded while Nix ran with its result, appends the JobEvaluated not
// appended yet and the failed jobs, then EvaluationFinished.
func (r *run) record(ctx context.Context, hash, flake string, res Result) error {
	recordStart := time.Now()
	ms, err := r.rec.reconcile(ctx, res.Jobs)
	if err != nil {
		if r.rec.graphErr != nil {
			return r.fail(ctx, "eval", fmt.Sprintf("reading the build graph: %v", r.rec.graphErr))
		}
		return err
	}
	r.sum.GraphTime = r.rec.graphTime
	sum := r.sum
	jobs := make([]events.Payload, 0, len(ms)+len(res.Errors))
	for _, m := range ms {
		if m.isNew {
			sum.NewBuilds++
		}
		if m.cached {
			sum.CachedBuilds++
		}
		if !r.rec.announced[m.job.Name] {
			jobs = append(jobs, jobEvaluated(r.evalID, m))
		}
	}
	js := r.state
	sum.HasNewBuilds = sum.NewBuilds > 0 || len(ms) != js.LastNrBuilds
	if len(res.BrokenAggregates) > 0 && sum.HasNewBuilds {
		// Hydra's evaluator keeps nothing of an evaluation that changes
		// the jobset while an aggregate is broken; one that changes
		// nothing keeps the aggregate's error as a job's.
		first := res.BrokenAggregates[0]
		sum.NewBuilds, sum.CachedBuilds, sum.HasNewBuilds = 0, 0, false
		return r.fail(ctx, "eval", fmt.Sprintf("aggregate job ‘%s’ failed with the error: %s", first, res.Errors[first]))
	}
	for _, name := range sortedKeys(res.Errors) {
		jobs = append(jobs, &events.JobEvaluationFailed{EvalID: r.evalID, Job: name, Error: res.Errors[name]})
	}
	if err := r.s.appendChunked(ctx, r.eval, r.md, jobs...); err != nil {
		return err
	}
	sum.RecordTime = time.Since(recordStart)
	sum.Jobs, sum.Builds, sum.Steps, sum.Errors = len(res.Jobs), len(ms), r.rec.steps, len(res.Errors)
	fin := &events.EvaluationFinished{EvalID: r.evalID, Project: js.Project, Jobset: js.Name, JobsetID: js.ID,
		Hash: hash, Timestamp: r.now().Unix(), CheckoutTime: int64(sum.CheckoutTime.Seconds()),
		EvalTime: int64(sum.EvalTime.Seconds()), NrJobs: sum.Jobs, NrBuilds: sum.Builds, NrNewBuilds: sum.NewBuilds,
		NrErrors: sum.Errors, NrCachedBuilds: sum.CachedBuilds, NrSteps: sum.Steps, HasNewBuilds: sum.HasNewBuilds, Flake: flake,
		NixExprInput: js.Config.NixExprInput, NixExprPath: js.Config.NixExprPath}
	if err := r.s.appendChunked(ctx, r.eval, r.md, fin); err != nil {
		return err
	}
	r.s.remember(r.evalID, ms)
	sum.Outcome = jobset.OutcomeFinished
	return r.close(ctx, &events.EvaluationClosed{EvalID: r.evalID, Project: js.Project, Jobset: js.Name,
		Outcome: jobset.OutcomeFinished, Hash: hash, Flake: flake, HasNewBuilds: sum.HasNewBuilds, NrBuilds: sum.Builds,
		Timestamp: fin.Timestamp})
}

// fail records a failed evaluation, after withdrawing the builds it
// recorded while Nix ran.
func (r *run) fail(ctx context.Context, phase, msg string) error {
	js := r.state
	if r.rec != nil {
		if err := r.rec.withdrawAll(ctx, "the evaluation failed"); err != nil {
			return err
		}
	}
	ts := r.now().Unix()
	err := r.s.appendChunked(ctx, r.eval, r.md, &events.EvaluationFailed{EvalID: r.evalID, Project: js.Project,
		Jobset: js.Name, Phase: phase, Error: msg, Timestamp: ts})
	if err != nil {
		return err
	}
	r.sum.Outcome, r.sum.Phase, r.sum.Error = jobset.OutcomeFailed, phase, msg
	return r.close(ctx, &events.EvaluationClosed{EvalID: r.evalID, Project: js.Project, Jobset: js.Name,
		Outcome: jobset.OutcomeFailed, Timestamp: ts})
}

// close appends EvaluationClosed to the jobset's stream, and disables a
// one-shot jobset after a finished evaluation.
func (r *run) close(ctx context.Context, c *events.EvaluationClosed) error {
	stream := streams.Jobset(r.state.Project, r.state.Name)
	_, err := commands.Execute(ctx, r.s.rt, stream, commands.JobsetAggregate, func(js jobset.State) ([]events.Payload, error) {
		return jobset.Close(js, c)
	}, r.md)
	return err
}

// cachedBuild returns the events of a build whose outputs are all valid: what
// its outputs' nix-support files say, then BuildCached. A scan that fails
// is logged and leaves the build without products.
func (r *run) cachedBuild(ctx context.Context, build int64, outputs []events.Output, ts int64) []events.Payload {
	done := &events.BuildCached{BuildID: build, Outputs: outputs, Timestamp: ts}
	if r.s.ports.Outputs == nil {
		return []events.Payload{done}
	}
	sc, err := r.s.ports.Outputs.Scan(ctx, build, outputs)
	if err != nil {
		r.s.log.Warn("evaluation: nix-support of a cached build not read", "build", build, "err", err)
		return []events.Payload{done}
	}
	ps := make([]events.Payload, 0, len(sc.Products)+len(sc.Metrics)+1)
	for i := range sc.Products {
		ps = append(ps, &sc.Products[i])
	}
	for i := range sc.Metrics {
		ps = append(ps, &sc.Metrics[i])
	}
	done.ReleaseName, done.FailedWithOutput = sc.ReleaseName, sc.Failed
	return append(ps, done)
}
