package evaluation

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"time"

	"golang.org/x/sync/errgroup"

	"buildledger/domain/ids"
	"buildledger/domain/streams"
	"buildledger/events"
)

// recorder records the jobs of one evaluation while Nix goes on: as jobs
// arrive (Request.OnJob) it gives the new builds ids, plans their build
// graph and appends, a chunk at a time, JobEvaluated, then BuildQueued
// and StepQueued. Jobs of builds of the previous evaluation are only
// kept, for the JobEvaluated appended at the end. Nix's final result is
// authoritative: reconcile withdraws what it does not hold and records
// what did not come early.
//
// Its methods run one at a time: add on the evaluator's calls of OnJob,
// which end before Evaluate returns, the others after.
type recorder struct {
	r    *run
	prev map[string]prevBuild
	plan Plan

	// pending are the jobs added and not recorded yet; chunk is how many
	// make the next flush: one at first, twice as many each flush after,
	// up to Options.RecordChunk, so that the first jobs reach the log
	// (and their steps the scheduler) as soon as Nix reports them.
	pending []Job
	chunk   int
	// err is a failure of the ledger or a cancellation; graphErr a failure
	// to read the build graph, which fails the evaluation. After either,
	// add records nothing more.
	err, graphErr error

	byName map[string]*member // every job recorded, by name
	// announced holds the jobs whose JobEvaluated was appended early.
	announced map[string]bool
	// planned holds the derivations queued as steps so far.
	planned map[string]bool
	// queued holds the new builds whose BuildQueued was (or was being)
	// appended and that were not withdrawn.
	queued    map[int64]bool
	steps     int
	graphTime time.Duration
}

func newRecorder(r *run, prev map[string]prevBuild) *recorder {
	return &recorder{r: r, prev: prev, plan: r.s.ports.Graph.NewPlan(), chunk: 1,
		byName: map[string]*member{}, announced: map[string]bool{}, planned: map[string]bool{}, queued: map[int64]bool{}}
}

// add takes one job from Nix (Request.OnJob) and records the jobs taken
// once there are a chunk of them. Nix goes on meanwhile. On a failure it
// calls stop, which ends the evaluation.
func (rc *recorder) add(ctx context.Context, stop context.CancelFunc, j Job) {
	rc.pending = append(rc.pending, j)
	if len(rc.pending) >= rc.chunk {
		rc.chunk = min(2*rc.chunk, rc.r.s.opts.RecordChunk)
		rc.flush(ctx, stop)
	}
}

// flush records the pending jobs, unless the recorder failed before.
func (rc *recorder) flush(ctx context.Context, stop context.CancelFunc) {
	jobs := rc.pending
	rc.pending = nil
	if len(jobs) == 0 || rc.err != nil || rc.graphErr != nil {
		return
	}
	if err := rc.record(ctx, jobs, true); err != nil {
		stop()
	}
}

// record records jobs: their builds get ids (new ones) or are found in
// the previous evaluation, the new builds' derivations are planned, and
// their events appended. When early, the new builds' JobEvaluated are
// appended first, so that a recovery finds every build to withdraw in
// the evaluation's stream. A job whose name was recorded already is left
// out: the final result reports the collision.
func (rc *recorder) record(ctx context.Context, jobs []Job, early bool) error {
	fresh := jobs[:0:0]
	names := make(map[string]bool, len(jobs))
	for _, j := range jobs {
		if _, dup := rc.byName[j.Name]; !dup && !names[j.Name] {
			names[j.Name] = true
			fresh = append(fresh, j)
		}
	}
	ms := assign(fresh, rc.prev)
	if ms.newCount > 0 {
		first, err := rc.r.s.ids.Next(ctx, ids.KindBuild, int64(ms.newCount))
		if err != nil {
			rc.err = fmt.Errorf("allocate %d build ids: %w", ms.newCount, err)
			return rc.err
		}
		ms.number(first)
	}
	roots := ms.newBuildsByDrv()
	drvs := make([]string, 0, len(roots))
	for _, root := range roots {
		if !rc.planned[root.drv] {
			drvs = append(drvs, root.drv)
		}
	}
	var steps []Step
	if len(drvs) > 0 {
		start := time.Now()
		var err error
		steps, err = rc.plan.Add(ctx, drvs)
		rc.graphTime += time.Since(start)
		if err != nil {
			if ctx.Err() != nil {
				rc.err = ctx.Err()
			} else {
				rc.graphErr = err
			}
			return err
		}
	}
	owner := stepOwners(steps, roots)
	for _, st := range steps {
		rc.planned[st.DrvPath] = true
	}

	r, js := rc.r, rc.r.state
	ts := r.now().Unix()
	var builds []streamBatch
	var announce []events.Payload
	for i := range ms.members {
		m := &ms.members[i]
		rc.byName[m.job.Name] = m
		if !m.isNew {
			continue
		}
		rc.queued[m.build] = true
		ps := []events.Payload{&events.BuildQueued{BuildID: m.build, EvalID: r.evalID, JobsetID: js.ID,
			Project: js.Project, Jobset: js.Name, Job: m.job.Name, NixName: m.job.NixName, DrvPath: m.job.DrvPath,
			System: m.job.System, Outputs: m.job.Outputs, Meta: m.job.Meta, Timestamp: ts}}
		if !rc.planned[m.job.DrvPath] {
			ps = append(ps, r.cachedBuild(ctx, m.build, m.job.Outputs, ts)...)
			m.cached = true
		}
		builds = append(builds, streamBatch{stream: streams.Build(m.build), expect: events.NoStream, payloads: ps})
		if early && !m.job.IsAggregate {
			rc.announced[m.job.Name] = true
			announce = append(announce, jobEvaluated(r.evalID, *m))
		}
	}
	rc.steps += len(steps)
	stepBatches := make([]streamBatch, len(steps))
	for i, st := range steps {
		stepBatches[i] = streamBatch{stream: streams.Step(st.DrvPath), expect: events.Any, payloads: []events.Payload{
			&events.StepQueued{DrvPath: st.DrvPath, System: st.System, Outputs: st.Outputs, InputDrvs: st.InputDrvs, InputSrcs: st.InputSrcs,
				RequiredFeatures: st.RequiredFeatures, PreferLocal: st.PreferLocal, BuildID: owner.build[i], EvalID: r.evalID}}}
	}
	if err := r.s.appendChunked(ctx, r.eval, r.md, announce...); err != nil {
		rc.err = err
		return err
	}
	// The builds and the steps go to different streams, and the scheduler
	// links a build to its step in either order, so they are appended at
	// the same time: one writer's encoding overlaps the other's database
	// work. The steps go inputs first (inputsFirst): the scheduler runs a
	// step of an open evaluation once the inputs it names are in the log
	// and have succeeded, so an input queued again must come before its
	// dependent.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return r.s.appendEach(gctx, r.md, builds) })
	g.Go(func() error {
		for _, wave := range inputsFirst(steps, stepBatches) {
			if err := r.s.appendEach(gctx, r.md, wave); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		rc.err = err
		return err
	}
	return nil
}

// inputsFirst splits batches, one for each of steps, into waves to append
// one after another: a step's batch is in a later wave than the batches
// of the inputs it names among steps, so its StepQueued follows theirs in
// the log however appendEach orders a wave. Steps come inputs first
// (Plan.Add), so one pass finds each step's wave.
func inputsFirst(steps []Step, batches []streamBatch) [][]streamBatch {
	wave := make(map[string]int, len(steps))
	var waves [][]streamBatch
	for i, st := range steps {
		w := 0
		for _, in := range st.InputDrvs {
			if k, ok := wave[in]; ok {
				w = max(w, k+1)
			}
		}
		wave[st.DrvPath] = w
		if w == len(waves) {
			waves = append(waves, nil)
		}
		waves[w] = append(waves[w], batches[i])
	}
	return waves
}

// reconcile makes the recorded jobs those of res, Nix's final result: a
// recorded job res does not hold as it was recorded (it collided with
// another attribute's name) has its new build withdrawn, and the jobs of
// res not recorded yet (aggregates, and any the evaluator did not pass
// early) are recorded now. It returns the members, sorted by job name,
// with the aggregates' constituents resolved.
func (rc *recorder) reconcile(ctx context.Context, jobs []Job) ([]member, error) {
	final := make(map[string]bool, len(jobs))
	var late []Job
	for _, j := range jobs {
		final[j.Name] = true
		m, ok := rc.byName[j.Name]
		if ok && reflect.DeepEqual(m.job, j) {
			continue
		}
		if ok {
			if err := rc.withdraw(ctx, m, "the job's evaluation result changed"); err != nil {
				return nil, err
			}
		}
		late = append(late, j)
	}
	for name, m := range rc.byName {
		if !final[name] {
			if err := rc.withdraw(ctx, m, "the job failed to evaluate: its name is that of another attribute too"); err != nil {
				return nil, err
			}
		}
	}
	if len(late) > 0 {
		if err := rc.record(ctx, late, false); err != nil {
			return nil, err
		}
	}
	ms := make([]member, 0, len(rc.byName))
	for _, m := range rc.byName {
		ms = append(ms, *m)
	}
	sort.Slice(ms, func(a, b int) bool { return ms[a].job.Name < ms[b].job.Name })
	resolveConstituents(ms)
	return ms, nil
}

// withdraw forgets recorded job m, and withdraws its build if it is new.
func (rc *recorder) withdraw(ctx context.Context, m *member, reason string) error {
	delete(rc.byName, m.job.Name)
	delete(rc.announced, m.job.Name)
	if !m.isNew {
		return nil
	}
	return rc.withdrawBuilds(ctx, []int64{m.build}, reason)
}

// withdrawAll withdraws every new build recorded, for an evaluation that
// fails after recording jobs.
func (rc *recorder) withdrawAll(ctx context.Context, reason string) error {
	builds := make([]int64, 0, len(rc.queued))
	for b := range rc.queued {
		builds = append(builds, b)
	}
	slices.Sort(builds)
	return rc.withdrawBuilds(ctx, builds, reason)
}

func (rc *recorder) withdrawBuilds(ctx context.Context, builds []int64, reason string) error {
	batches := make([]streamBatch, len(builds))
	for i, b := range builds {
		batches[i] = streamBatch{stream: streams.Build(b), expect: events.Any,
			payloads: []events.Payload{&events.BuildWithdrawn{BuildID: b, EvalID: rc.r.evalID, Reason: reason}}}
	}
	if err := rc.r.s.appendEach(ctx, rc.r.md, batches); err != nil {
		return fmt.Errorf("withdraw %d builds: %w", len(builds), err)
	}
	for _, b := range builds {
		delete(rc.queued, b)
	}
	return nil
}

// jobEvaluated is the JobEvaluated of member m.
func jobEvaluated(evalID int64, m member) *events.JobEvaluated {
	return &events.JobEvaluated{EvalID: evalID, Job: m.job.Name, NixName: m.job.NixName,
		System: m.job.System, DrvPath: m.job.DrvPath, Outputs: m.job.Outputs, Meta: m.job.Meta, BuildID: m.build,
		IsNew: m.isNew, Constituents: m.constituentNames, ConstituentBuilds: m.constituents}
}
