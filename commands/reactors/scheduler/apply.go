package scheduler

import (
	"slices"
	"sort"

	"buildledger/domain/status"
	"buildledger/domain/step"
	"buildledger/events"
)

// Model is the scheduler's in-memory queue: builds, steps and their
// edges, runnable steps per system, machines and jobset shares. It is a
// pure data structure: Apply folds events, Decide makes dispatch decisions
// and Actions lists the follow-ups (finish builds, retry, requeue, abort)
// the events call for. Times are Unix seconds passed in by the caller.
// A Model is not safe for concurrent use.
type Model struct {
	cfg      Config
	steps    map[string]*node
	builds   map[int64]*build
	jobsets  map[int64]*jobset
	jsByName map[string]*jobset
	machines map[string]*machine
	queues   map[string]*queue
	// waiting maps a derivation not (yet) queued to the steps that name
	// it as input, and to builds whose top-level step it is.
	waitingSteps  map[string][]*node
	waitingBuilds map[string][]*build
	openEvals     map[int64][]*node
	closedEvals   map[int64]bool
	failedOutputs map[string]bool
	narSizes      map[string]int64
	active        map[*node]struct{}

	finishes map[int64]*pendingFinish
	requeues map[*node]*pendingRequeue

	graphDirty   bool
	lastCritical int64
	lastUnsup    int64
	machineList  []*machine
	bySystem     map[string][]*machine
	machinesDirt bool
	mark         uint32
	stats        counters
}

// counters are totals for the status page.
type counters struct {
	stepsDone, stepsStarted, retries, maxRetries, buildsDone, buildsSucceeded, buildsFailed int
	unsupportedAborted, decisions, leaseExpiries, stepsCancelled                            int
}

type pendingFinish struct {
	ev        events.BuildFinished
	notBefore int64
}

type pendingRequeue struct {
	ev        events.StepRetryScheduled
	notBefore int64
}

// NewModel returns an empty model with cfg (zero fields take defaults).
func NewModel(cfg Config) *Model {
	return &Model{
		cfg: cfg.withDefaults(), steps: map[string]*node{}, builds: map[int64]*build{},
		jobsets: map[int64]*jobset{}, jsByName: map[string]*jobset{}, machines: map[string]*machine{},
		queues: map[string]*queue{}, waitingSteps: map[string][]*node{}, waitingBuilds: map[string][]*build{},
		failedOutputs: map[string]bool{}, openEvals: map[int64][]*node{}, closedEvals: map[int64]bool{}, narSizes: map[string]int64{}, active: map[*node]struct{}{},
		finishes: map[int64]*pendingFinish{}, requeues: map[*node]*pendingRequeue{},
	}
}

// Apply folds one decoded event into the model. Events the scheduler
// does not need are ignored. Apply is idempotent for the scheduler's own
// decisions: a StepDispatched it already reserved is only confirmed.
func (m *Model) Apply(p events.Payload) {
	switch e := p.(type) {
	case *events.JobsetCreated:
		m.jobsetConfig(e.ID, e.Project+":"+e.Name, e.SchedulingShares)
	case *events.JobsetUpdated:
		if j := m.jsByName[e.Project+":"+e.Name]; j != nil {
			j.shares = e.SchedulingShares
		}
	case *events.MachineRegistered:
		m.machineConfig(e.Name, e.MachineConfig)
	case *events.MachineUpdated:
		m.machineConfig(e.Name, e.MachineConfig)
	case *events.MachineRemoved:
		if mc := m.machines[e.Name]; mc != nil {
			mc.removed = true
			m.machinesDirt = true
		}
	case *events.StepQueued:
		m.stepQueued(e)
	case *events.EvaluationFinished:
		m.evalClosed(e.EvalID)
	case *events.EvaluationFailed:
		m.evalClosed(e.EvalID)
	case *events.EvaluationClosed:
		m.evalClosed(e.EvalID)
	case *events.BuildQueued:
		m.buildQueued(e)
	case *events.BuildCached:
		m.buildEnded(e.BuildID, statusCached(e.Failed))
	case *events.StepDispatched:
		m.stepDispatched(e)
	case *events.StepStarted:
		m.stepStarted(e)
	case *events.StepFinished:
		m.stepFinished(e)
	case *events.StepRetryScheduled:
		m.stepRequeued(e)
	case *events.OutputUploaded:
		m.narSizes[e.Path] = e.NarSize
	case *events.BuildFinished:
		if b := m.builds[e.BuildID]; b != nil && e.Status == int(status.DepFailed) && e.PropagatedFrom != 0 && e.FailedDrv != "" {
			b.nr++
		}
		m.buildEnded(e.BuildID, e.Status)
	case *events.BuildCancelled:
		m.buildEnded(e.BuildID, int(status.Cancelled))
		m.markOrphans()
	case *events.BuildRestarted:
		m.buildRestarted(e)
	case *events.BuildWithdrawn:
		m.buildWithdrawn(e.BuildID)
	case *events.BuildBumped:
		if b := m.builds[e.BuildID]; b != nil {
			b.globalPrio = e.GlobalPriority
			for _, s := range b.steps {
				if b.globalPrio > s.globalPrio {
					m.rekey(s, func() { s.globalPrio = b.globalPrio })
				}
			}
		}
	}
}

func statusCached(failed bool) int {
	if failed {
		return int(status.Failed)
	}
	return int(status.Success)
}

func (m *Model) jobsetConfig(id int64, name string, shares int) {
	j := m.jobsets[id]
	if j == nil {
		j = &jobset{id: id}
		m.jobsets[id] = j
	}
	j.name, j.shares = name, shares
	m.jsByName[name] = j
}

func (m *Model) jobsetOf(id int64) *jobset {
	j := m.jobsets[id]
	if j == nil {
		j = &jobset{id: id, shares: 100}
		m.jobsets[id] = j
	}
	return j
}

func (m *Model) machineConfig(name string, cfg events.MachineConfig) {
	mc := m.machines[name]
	if mc == nil {
		mc = &machine{name: name}
		m.machines[name] = mc
	}
	mc.cfg, mc.removed = cfg, false
	m.machinesDirt = true
}

// refreshMachines rebuilds the per-system machine lists.
func (m *Model) refreshMachines() {
	if !m.machinesDirt {
		return
	}
	m.machinesDirt = false
	m.machineList = m.machineList[:0]
	for _, mc := range m.machines {
		if !mc.removed {
			m.machineList = append(m.machineList, mc)
		}
	}
	sort.Slice(m.machineList, func(i, j int) bool { return m.machineList[i].name < m.machineList[j].name })
	m.bySystem = map[string][]*machine{BuiltinSystem: m.machineList}
	for _, mc := range m.machineList {
		for _, sys := range mc.cfg.Systems {
			m.bySystem[sys] = append(m.bySystem[sys], mc)
		}
	}
}

func (m *Model) candidates(system string) []*machine {
	m.refreshMachines()
	return m.bySystem[system]
}

func (m *Model) stepQueued(e *events.StepQueued) {
	s := m.steps[e.DrvPath]
	if s == nil {
		s = &node{drv: e.DrvPath, qidx: -1, hidx: -1, phase: step.Queued}
		m.steps[e.DrvPath] = s
		if e.EvalID != 0 && !m.closedEvals[e.EvalID] {
			// Wait for the whole graph of the evaluation: its steps are
			// appended in no particular order.
			s.evalOpen = e.EvalID
			m.openEvals[e.EvalID] = append(m.openEvals[e.EvalID], s)
		}
		s.system, s.features, s.preferLocal, s.outputs = e.System, e.RequiredFeatures, e.PreferLocal, e.Outputs
		for _, in := range e.InputDrvs {
			if d := m.steps[in]; d != nil {
				m.link(s, d)
			} else {
				m.waitingSteps[in] = append(m.waitingSteps[in], s)
			}
		}
		// Steps queued before this one that need it.
		for _, r := range m.waitingSteps[e.DrvPath] {
			if r.phase == step.Queued && !r.reserved {
				m.link(r, s)
				for _, b := range r.builds {
					if !b.finished {
						m.attachFrom(b, s)
					}
				}
				m.refresh(r)
			}
		}
		delete(m.waitingSteps, e.DrvPath)
		m.graphDirty = true
	} else if s.phase == step.Succeeded {
		// Queued again: its outputs were lost.
		s.phase, s.tries, s.retryAt = step.Queued, 0, 0
		for _, r := range s.rdeps {
			r.pending++
			m.refresh(r)
		}
	}
	for _, b := range m.waitingBuilds[e.DrvPath] {
		if !b.finished && b.top == nil {
			m.setTop(b, s)
		}
	}
	delete(m.waitingBuilds, e.DrvPath)
	m.refresh(s)
}

// evalClosed lets the steps of evaluation id run.
func (m *Model) evalClosed(id int64) {
	if m.closedEvals[id] {
		return
	}
	m.closedEvals[id] = true
	for _, s := range m.openEvals[id] {
		s.evalOpen = 0
		m.refresh(s)
	}
	delete(m.openEvals, id)
}

// link makes d an input of s.
func (m *Model) link(s, d *node) {
	s.inputs = append(s.inputs, d)
	m.rekey(d, func() { d.rdeps = append(d.rdeps, s) })
	if d.phase != step.Succeeded {
		s.pending++
	}
}

func (m *Model) buildQueued(e *events.BuildQueued) {
	if m.builds[e.BuildID] != nil {
		return
	}
	b := &build{id: e.BuildID, jobset: m.jobsetOf(e.JobsetID), drv: e.DrvPath, globalPrio: e.GlobalPriority,
		localPrio: e.Meta.SchedulingPriority, maxSilent: e.Meta.MaxSilent, timeout: e.Meta.Timeout, outputs: e.Outputs}
	m.builds[b.id] = b
	if s := m.steps[e.DrvPath]; s != nil {
		m.setTop(b, s)
	} else {
		m.waitingBuilds[e.DrvPath] = append(m.waitingBuilds[e.DrvPath], b)
	}
}

// setTop gives b its top-level step and attaches its closure, then checks
// for work already done or failed.
func (m *Model) setTop(b *build, s *node) {
	b.top = s
	m.attachClosure(b)
	m.checkBuild(b)
}

// attachClosure attaches every unfinished step b needs.
func (m *Model) attachClosure(b *build) { m.attachFrom(b, b.top) }

// attachFrom attaches root and the unfinished steps it needs to b.
func (m *Model) attachFrom(b *build, root *node) {
	m.mark++
	stack := []*node{root}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s.mark == m.mark || s.phase == step.Succeeded {
			continue
		}
		s.mark = m.mark
		m.attach(b, s)
		stack = append(stack, s.inputs...)
	}
}

// attach records that b needs s and propagates b's priorities to s.
func (m *Model) attach(b *build, s *node) {
	if _, ok := b.attached[s]; ok {
		return
	}
	if b.attached == nil {
		b.attached = map[*node]struct{}{}
	}
	b.attached[s] = struct{}{}
	if !slices.Contains(s.builds, b) {
		s.builds = append(s.builds, b)
	}
	s.live++
	s.orphan = false
	b.steps = append(b.steps, s)
	m.rekey(s, func() {
		s.globalPrio = max(s.globalPrio, b.globalPrio)
		s.localPrio = max(s.localPrio, b.localPrio)
		if s.lowestBuild == 0 || b.id < s.lowestBuild {
			s.lowestBuild = b.id
		}
		if !slices.Contains(s.jobsets, b.jobset) {
			s.jobsets = append(s.jobsets, b.jobset)
			s.sig = signature(s.jobsets)
		}
	})
}

// checkBuild finishes b at once when its top-level step already succeeded
// or a step it needs failed for good.
func (m *Model) checkBuild(b *build) {
	if b.finished || b.top == nil {
		return
	}
	if b.top.phase == step.Succeeded {
		m.finishSucceeded(b, b.top, 0, 0, b.top.buildID)
		return
	}
	for _, s := range b.steps {
		if s.phase != step.Failed || m.requeues[s] != nil {
			continue
		}
		if m.cachedFailure(s) {
			m.failBuild(b, s, int(status.CachedFailure), s.buildID, 0)
			continue
		}
		// A failure not remembered (aborted, timed out, restarted): build
		// it again.
		m.requeue(s, events.StepRetryScheduled{DrvPath: s.drv, Attempt: s.attempt, Reason: step.ReasonRestart})
	}
}

// cachedFailure reports whether s failed for good with an output still in
// the failed paths (Hydra's FailedPaths).
func (m *Model) cachedFailure(s *node) bool {
	if s.phase != step.Failed {
		return false
	}
	for _, o := range s.outputs {
		if m.failedOutputs[o.Path] {
			return true
		}
	}
	return false
}

func (m *Model) requeue(s *node, r events.StepRetryScheduled) {
	if m.requeues[s] == nil {
		m.requeues[s] = &pendingRequeue{ev: r}
	}
}

func (m *Model) stepDispatched(e *events.StepDispatched) {
	s := m.steps[e.DrvPath]
	if s == nil {
		return
	}
	if s.reserved {
		m.release(s)
	}
	if s.machine != nil {
		s.machine.current--
	}
	s.phase, s.attempt, s.leaseUntil, s.buildID, s.nr = step.Dispatched, e.Attempt, e.LeaseUntil, e.BuildID, 0
	s.machine = m.machines[e.Machine]
	if s.machine == nil {
		s.machine = &machine{name: e.Machine, removed: true}
		m.machines[e.Machine] = s.machine
	}
	s.machine.current++
	if b := m.builds[e.BuildID]; b != nil {
		b.nr++
		s.nr = b.nr
	}
	s.unsupportedT = 0
	// Every build that needed it ended between the decision and its
	// record: nobody waits for this attempt.
	s.orphan, s.cancelAt = s.live == 0, 0
	m.active[s] = struct{}{}
	delete(m.requeues, s)
	m.refresh(s)
}

// release undoes a reservation made by Decide.
func (m *Model) release(s *node) {
	s.reserved = false
	if s.machine != nil {
		s.machine.current--
		s.machine = nil
	}
	if b := m.builds[s.buildID]; b != nil && b.reservedNr > 0 {
		b.reservedNr--
	}
}

func (m *Model) stepStarted(e *events.StepStarted) {
	s := m.steps[e.DrvPath]
	if s == nil || e.Attempt != s.attempt || s.phase != step.Dispatched {
		return
	}
	s.phase, s.startTime, s.nr = step.Running, e.StartTime, e.StepNr
	timeout, silent := m.timeouts(s)
	s.leaseUntil = e.StartTime + int64(timeout) + int64(silent) + m.cfg.RunningGrace
	m.stats.stepsStarted++
}

func (m *Model) stepFinished(e *events.StepFinished) {
	s := m.steps[e.DrvPath]
	if s == nil || e.Attempt != s.attempt || s.phase == step.Succeeded || s.phase == step.Failed {
		return
	}
	wasQueued := s.phase == step.Queued
	if s.reserved {
		m.release(s)
	}
	if s.machine != nil {
		s.machine.current--
		s.machine.done++
		s.machine.lastEnd = e.StopTime
		if e.Status != 0 {
			s.machine.failed++
		}
		s.machine = nil
	}
	if wasQueued {
		if b := m.builds[e.BuildID]; b != nil {
			b.nr++
		}
	}
	delete(m.active, s)
	s.orphan = false
	m.stats.stepsDone++
	m.charge(s, e.StartTime, e.StopTime)
	s.status = e.Status
	s.releaseName = e.ReleaseName
	if e.BuildID != 0 {
		s.buildID = e.BuildID
	}
	code := status.Code(e.Status)
	if code == status.Success || code == status.FailedWithOutput {
		s.phase = step.Succeeded
		m.refresh(s)
		for _, b := range s.builds {
			if b.top == s && !b.finished {
				m.finishSucceeded(b, s, e.StartTime, e.StopTime, e.BuildID)
			}
		}
		for _, r := range s.rdeps {
			r.pending--
			m.refresh(r)
		}
		return
	}
	s.phase = step.Failed
	if code == status.Cancelled {
		// Cancelled because no build needed it: a build that needs it
		// again since gets a fresh attempt, none fails.
		m.stats.stepsCancelled++
		m.refresh(s)
		if s.live > 0 {
			m.requeue(s, events.StepRetryScheduled{DrvPath: s.drv, Attempt: s.attempt, Reason: step.ReasonRestart})
		}
		return
	}
	if code.IsTransient() {
		s.tries++
		if s.tries < m.cfg.MaxTries {
			m.stats.retries++
			m.stats.maxRetries = max(m.stats.maxRetries, s.tries)
			m.requeue(s, events.StepRetryScheduled{DrvPath: s.drv, Attempt: s.attempt,
				RetryAt: e.StopTime + m.cfg.RetryDelay(s.tries), Reason: step.ReasonRetry})
			m.refresh(s)
			return
		}
	}
	if code.IsCacheable() {
		for _, o := range s.outputs {
			m.failedOutputs[o.Path] = true
		}
		for _, o := range e.Outputs {
			m.failedOutputs[o.Path] = true
		}
	}
	m.refresh(s)
	for _, b := range s.builds {
		m.failBuild(b, s, e.Status, e.BuildID, e.StopTime)
	}
}

// charge adds a finished step's time to its jobsets' share usage, split
// equally among them as Hydra's C++ runner did.
func (m *Model) charge(s *node, start, stop int64) {
	if start <= 0 || stop <= start || len(s.jobsets) == 0 {
		return
	}
	per := (stop - start) / int64(len(s.jobsets))
	for _, j := range s.jobsets {
		j.seconds += per
		j.window = append(j.window, charge{at: stop, seconds: per})
	}
}

func (m *Model) stepRequeued(e *events.StepRetryScheduled) {
	s := m.steps[e.DrvPath]
	if s == nil || e.Attempt != s.attempt {
		return
	}
	if s.reserved {
		m.release(s)
	}
	if s.machine != nil {
		s.machine.current--
		s.machine = nil
	}
	delete(m.active, s)
	delete(m.requeues, s)
	s.orphan = false
	if e.Reason == step.ReasonRestart {
		s.tries = 0
	}
	s.phase, s.retryAt, s.unsupportedT = step.Queued, e.RetryAt, 0
	m.refresh(s)
}

func (m *Model) finishSucceeded(b *build, s *node, start, stop, ranFor int64) {
	st := int(status.Success)
	if s.status == int(status.FailedWithOutput) {
		st = s.status
	}
	var size int64
	for _, o := range b.outputs {
		size += m.narSizes[o.Path]
	}
	m.setFinish(b, events.BuildFinished{BuildID: b.id, Status: st, StartTime: start, StopTime: stop,
		IsCachedBuild: ranFor != b.id, Size: size, ReleaseName: s.releaseName})
}

// failBuild finishes b because s failed for good with status st while
// running for build ranFor. b's own top-level step gives its status;
// a dependency gives 2 (for failures) or its status, with
// PropagatedFrom, as Hydra does.
func (m *Model) failBuild(b *build, s *node, st int, ranFor, stop int64) {
	if b.finished {
		return
	}
	f := events.BuildFinished{BuildID: b.id, Status: st, StartTime: stop, StopTime: stop,
		IsCachedBuild: st == int(status.CachedFailure)}
	if st == int(status.CachedFailure) {
		f.Status = int(status.Failed)
	}
	if b.top != s && (f.Status == int(status.Failed)) {
		f.Status = int(status.DepFailed)
	}
	if ranFor != b.id && ranFor != 0 {
		f.PropagatedFrom, f.FailedDrv = ranFor, s.drv
	}
	m.setFinish(b, f)
}

func (m *Model) setFinish(b *build, f events.BuildFinished) {
	if _, ok := m.finishes[b.id]; !ok {
		m.finishes[b.id] = &pendingFinish{ev: f}
	}
}

// buildEnded takes a finished or cancelled build out of the queue.
func (m *Model) buildEnded(id int64, st int) {
	b := m.builds[id]
	delete(m.finishes, id)
	if b == nil || b.finished {
		return
	}
	b.finished, b.status = true, st
	m.stats.buildsDone++
	if st == 0 || st == int(status.FailedWithOutput) {
		m.stats.buildsSucceeded++
	} else {
		m.stats.buildsFailed++
	}
	for _, s := range b.steps {
		s.live--
		m.refresh(s)
	}
	b.steps, b.attached = b.steps[:0], nil
}

// markOrphans marks the dispatched and running steps no unfinished build
// needs any more, for Actions to cancel, as Hydra does when a build is
// cancelled.
func (m *Model) markOrphans() {
	for s := range m.active {
		if s.live == 0 {
			s.orphan = true
		}
	}
}

// buildWithdrawn forgets a build its evaluator took back before the
// evaluation ended. No step has run for it, as the steps of an open
// evaluation wait for its end; the steps it needed stop counting it, and
// one that no build needs any more is left to the orphan rule.
func (m *Model) buildWithdrawn(id int64) {
	b := m.builds[id]
	if b == nil {
		return
	}
	delete(m.builds, id)
	delete(m.finishes, id)
	if w, ok := m.waitingBuilds[b.drv]; ok {
		if w = slices.DeleteFunc(w, func(x *build) bool { return x == b }); len(w) > 0 {
			m.waitingBuilds[b.drv] = w
		} else {
			delete(m.waitingBuilds, b.drv)
		}
	}
	if !b.finished {
		b.finished = true
		for _, s := range b.steps {
			s.builds = slices.DeleteFunc(s.builds, func(x *build) bool { return x == b })
			s.live--
			m.refresh(s)
		}
		b.steps, b.attached = nil, nil
	}
	m.markOrphans()
}

func (m *Model) buildRestarted(e *events.BuildRestarted) {
	b := m.builds[e.BuildID]
	if b == nil || !b.finished {
		return
	}
	b.finished, b.status = false, 0
	for _, o := range b.outputs {
		delete(m.failedOutputs, o.Path)
	}
	if b.top != nil {
		for _, o := range b.top.outputs {
			delete(m.failedOutputs, o.Path)
		}
		m.attachClosure(b)
		m.checkBuild(b)
	}
}

// timeouts returns the step's timeout and max silent time: the largest
// over its unfinished builds, floored at the defaults for steps that are
// only dependencies.
func (m *Model) timeouts(s *node) (timeout, silent int) {
	top := false
	for _, b := range s.builds {
		if b.finished {
			continue
		}
		t, q := b.timeout, b.maxSilent
		if t <= 0 {
			t = m.cfg.Timeout
		}
		if q <= 0 {
			q = m.cfg.MaxSilent
		}
		timeout, silent = max(timeout, t), max(silent, q)
		top = top || b.top == s
	}
	if !top {
		timeout, silent = max(timeout, m.cfg.Timeout), max(silent, m.cfg.MaxSilent)
	}
	return timeout, silent
}

// runnable reports whether s belongs in its system's queue.
func (s *node) runnable() bool {
	return s.phase == step.Queued && !s.reserved && s.pending == 0 && s.live > 0 && s.evalOpen == 0
}

// rekey takes s out of its queue while change alters its order keys,
// then puts it back where it belongs.
func (m *Model) rekey(s *node, change func()) {
	if s.sys != nil {
		s.sys.remove(s)
	}
	change()
	m.refresh(s)
}

// refresh puts s into or takes it out of its system's queue.
func (m *Model) refresh(s *node) {
	want := s.runnable()
	switch {
	case want && s.sys == nil:
		q := m.queues[s.system]
		if q == nil {
			q = &queue{system: s.system}
			m.queues[s.system] = q
		}
		q.add(s)
	case !want && s.sys != nil:
		s.sys.remove(s)
	}
}
