package evaluation

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"buildledger/commands"
	"buildledger/domain/ids"
	"buildledger/domain/jobset"
	"buildledger/domain/streams"
	"buildledger/events"
)

// run is one evaluation in progress.
type run struct {
	s      *Service
	md     events.Metadata
	state  Jobset
	evalID int64
	start  time.Time
	force  bool
	eval   *streamWriter
	sum    *Summary
}

func (r *run) now() time.Time { return r.s.rt.Clock().Now() }

// do carries the evaluation from EvaluationStarted to EvaluationClosed.
// Errors it returns are failures of the ledger or cancellation; failures
// of the evaluation are recorded and return nil.
func (r *run) do(ctx context.Context) error {
	js := r.state
	err := r.s.appendChunked(ctx, r.eval, r.md, &events.EvaluationStarted{EvalID: r.evalID, Project: js.Project,
		Jobset: js.Name, JobsetID: js.ID, StartTime: r.start.Unix()})
	if err != nil {
		return err
	}

	// Fetch.
	cfg := js.Config
	var (
		inputs []Input
		locked string
	)
	fetchStart := time.Now()
	if cfg.Type == jobset.TypeFlake {
		if locked, err = r.s.ports.Inputs.LockFlake(ctx, cfg.Flake); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return r.fail(ctx, "fetch", fmt.Sprintf("error fetching flake ‘%s’: %v", cfg.Flake, err))
		}
	} else {
		for _, in := range cfg.Inputs {
			got, err := r.s.ports.Inputs.Fetch(ctx, js.Project, js.Name, in)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return r.fail(ctx, "fetch", fmt.Sprintf("error fetching input ‘%s’ (%s %s): %v", in.Name, in.Type, in.Value, err))
			}
			if !got.Omit {
				inputs = append(inputs, got)
			}
		}
	}
	r.sum.CheckoutTime = time.Since(fetchStart)
	hash := InputsHash(cfg, locked, inputs)
	r.sum.Hash = hash
	if !r.force && js.LastEval != 0 && hash == js.LastHash {
		return r.cached(ctx, hash)
	}
	fetched := make([]events.Payload, len(inputs))
	for i, in := range inputs {
		fetched[i] = &events.InputFetched{EvalID: r.evalID, Name: in.Name, Type: in.Type, URI: in.URI,
			Revision: in.Revision, Value: in.Value, StorePath: in.StorePath, SHA256: in.SHA256,
			ShortRevLength: in.ShortRevLength, DependencyBuild: in.DependencyBuild}
	}
	if err := r.s.appendChunked(ctx, r.eval, r.md, fetched...); err != nil {
		return err
	}

	// Evaluate.
	evalStart := time.Now()
	res, err := r.s.ports.Nix.Evaluate(ctx, Request{NixExprInput: cfg.NixExprInput, NixExprPath: cfg.NixExprPath,
		Inputs: inputs, Flake: locked})
	r.sum.EvalTime = time.Since(evalStart)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return r.fail(ctx, "eval", err.Error())
	}
	for _, w := range res.Warnings {
		r.s.log.WarnContext(ctx, "evaluation warning", "eval", r.evalID, "warning", w)
	}
	if res.FlakeURL != "" {
		locked = res.FlakeURL
	}
	return r.record(ctx, hash, locked, res)
}

// record turns a successful Nix evaluation into builds, steps and jobs.
func (r *run) record(ctx context.Context, hash, flake string, res Result) error {
	prev, err := r.s.previousBuilds(ctx, r.state.LastWithNewBuilds)
	if err != nil {
		return err
	}
	plan := assign(res.Jobs, prev)
	var first int64
	if plan.newCount > 0 {
		if first, err = r.s.ids.Next(ctx, ids.KindBuild, int64(plan.newCount)); err != nil {
			return fmt.Errorf("allocate %d build ids: %w", plan.newCount, err)
		}
	}
	plan.number(first)
	roots := plan.newDrvs()
	var steps []Step
	graphStart := time.Now()
	if len(roots) > 0 {
		if steps, err = r.s.ports.Graph.Plan(ctx, roots); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return r.fail(ctx, "eval", fmt.Sprintf("reading the build graph: %v", err))
		}
	}
	r.sum.GraphTime = time.Since(graphStart)
	recordStart := time.Now()
	owner := stepOwners(steps, plan.newBuildsByDrv())

	js := r.state
	ts := r.now().Unix()
	var builds []streamBatch
	for _, m := range plan.members {
		if !m.isNew {
			continue
		}
		ps := []events.Payload{&events.BuildQueued{BuildID: m.build, EvalID: r.evalID, JobsetID: js.ID,
			Project: js.Project, Jobset: js.Name, Job: m.job.Name, NixName: m.job.NixName, DrvPath: m.job.DrvPath,
			System: m.job.System, Outputs: m.job.Outputs, Meta: m.job.Meta, Timestamp: ts}}
		if _, building := owner.index[m.job.DrvPath]; !building {
			ps = append(ps, r.cachedBuild(ctx, m.build, m.job.Outputs, ts)...)
			r.sum.CachedBuilds++
		}
		builds = append(builds, streamBatch{stream: streams.Build(m.build), expect: events.NoStream, payloads: ps})
	}
	stepBatches := make([]streamBatch, len(steps))
	for i, st := range steps {
		stepBatches[i] = streamBatch{stream: streams.Step(st.DrvPath), expect: events.Any, payloads: []events.Payload{
			&events.StepQueued{DrvPath: st.DrvPath, System: st.System, Outputs: st.Outputs, InputDrvs: st.InputDrvs,
				RequiredFeatures: st.RequiredFeatures, PreferLocal: st.PreferLocal, BuildID: owner.build[i], EvalID: r.evalID}}}
	}
	jobs := make([]events.Payload, 0, len(plan.members)+len(res.Errors))
	for _, m := range plan.members {
		jobs = append(jobs, &events.JobEvaluated{EvalID: r.evalID, Job: m.job.Name, NixName: m.job.NixName,
			System: m.job.System, DrvPath: m.job.DrvPath, Outputs: m.job.Outputs, Meta: m.job.Meta, BuildID: m.build,
			IsNew: m.isNew, Constituents: m.constituentNames, ConstituentBuilds: m.constituents})
	}
	for _, name := range sortedKeys(res.Errors) {
		jobs = append(jobs, &events.JobEvaluationFailed{EvalID: r.evalID, Job: name, Error: res.Errors[name]})
	}
	// The builds, the steps and the jobs go to different streams, and
	// nothing reads them as one until EvaluationFinished (the scheduler
	// waits for the whole graph of an open evaluation), so they are
	// appended at the same time: one writer's encoding overlaps another's
	// database work.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.s.appendEach(gctx, r.md, builds) })
	g.Go(func() error { return r.s.appendEach(gctx, r.md, stepBatches) })
	g.Go(func() error { return r.s.appendChunked(gctx, r.eval, r.md, jobs...) })
	if err := g.Wait(); err != nil {
		return err
	}
	sum := r.sum
	sum.RecordTime = time.Since(recordStart)
	sum.Jobs, sum.Builds, sum.NewBuilds, sum.Steps, sum.Errors = len(res.Jobs), len(plan.members), plan.newCount, len(steps), len(res.Errors)
	sum.HasNewBuilds = plan.newCount > 0 || len(plan.members) != js.LastNrBuilds
	fin := &events.EvaluationFinished{EvalID: r.evalID, Project: js.Project, Jobset: js.Name, JobsetID: js.ID,
		Hash: hash, Timestamp: r.now().Unix(), CheckoutTime: int64(sum.CheckoutTime.Seconds()),
		EvalTime: int64(sum.EvalTime.Seconds()), NrJobs: sum.Jobs, NrBuilds: sum.Builds, NrNewBuilds: sum.NewBuilds,
		NrErrors: sum.Errors, HasNewBuilds: sum.HasNewBuilds, Flake: flake,
		NixExprInput: js.Config.NixExprInput, NixExprPath: js.Config.NixExprPath}
	if err := r.s.appendChunked(ctx, r.eval, r.md, fin); err != nil {
		return err
	}
	r.s.remember(r.evalID, plan.members)
	sum.Outcome = OutcomeFinished
	return r.close(ctx, &events.EvaluationClosed{EvalID: r.evalID, Project: js.Project, Jobset: js.Name,
		Outcome: OutcomeFinished, Hash: hash, Flake: flake, HasNewBuilds: sum.HasNewBuilds, NrBuilds: sum.Builds,
		Timestamp: fin.Timestamp})
}

// cached records that the inputs are those of the latest evaluation.
func (r *run) cached(ctx context.Context, hash string) error {
	js := r.state
	ts := r.now().Unix()
	err := r.s.appendChunked(ctx, r.eval, r.md, &events.EvaluationCached{Project: js.Project, Jobset: js.Name,
		EvalID: js.LastEval, Hash: hash, Timestamp: ts})
	if err != nil {
		return err
	}
	r.sum.Outcome, r.sum.CachedFrom = OutcomeCached, js.LastEval
	return r.close(ctx, &events.EvaluationClosed{EvalID: r.evalID, Project: js.Project, Jobset: js.Name,
		Outcome: OutcomeCached, Hash: hash, CachedFrom: js.LastEval, Timestamp: ts})
}

// fail records a failed evaluation.
func (r *run) fail(ctx context.Context, phase, msg string) error {
	js := r.state
	ts := r.now().Unix()
	err := r.s.appendChunked(ctx, r.eval, r.md, &events.EvaluationFailed{EvalID: r.evalID, Project: js.Project,
		Jobset: js.Name, Phase: phase, Error: msg, Timestamp: ts})
	if err != nil {
		return err
	}
	r.sum.Outcome, r.sum.Phase, r.sum.Error = OutcomeFailed, phase, msg
	return r.close(ctx, &events.EvaluationClosed{EvalID: r.evalID, Project: js.Project, Jobset: js.Name,
		Outcome: OutcomeFailed, Timestamp: ts})
}

// close appends EvaluationClosed to the jobset's stream, and disables a
// one-shot jobset after a finished evaluation.
func (r *run) close(ctx context.Context, c *events.EvaluationClosed) error {
	stream := streams.Jobset(r.state.Project, r.state.Name)
	_, err := commands.Execute(ctx, r.s.rt, stream, JobsetAggregate, func(js Jobset) ([]events.Payload, error) {
		ps := []events.Payload{c}
		if c.Outcome == OutcomeFinished && js.Exists && js.Config.Enabled == jobset.OneShot {
			cfg := js.Config
			cfg.Enabled = jobset.Disabled
			ps = append(ps, &events.JobsetUpdated{Project: js.Project, Name: js.Name, JobsetConfig: cfg})
		}
		return ps, nil
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
