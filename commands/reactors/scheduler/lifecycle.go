package scheduler

import (
	"cmp"
	"slices"

	"buildledger/domain/status"
	"buildledger/domain/step"
	"buildledger/events"
)

// checkBuild finishes b at once when its top-level step already succeeded
// or a step it needs failed for good.
func (m *Model) checkBuild(b *build) {
	if b.finished || b.top == nil {
		return
	}
	if s := b.top; s.phase == step.Succeeded {
		if sc, ok := m.creditRun(s, b); ok {
			m.finishSucceeded(b, s, s.startTime, s.stopTime, b.id, sc)
			return
		}
		m.finishSucceeded(b, s, 0, 0, s.buildID, nil)
		return
	}
	for _, s := range b.steps {
		if s.phase != step.Failed || m.requeues[s] != nil {
			continue
		}
		if s.creditEval != 0 && s.creditEval == b.eval {
			// It failed for a build of b's own evaluation: Hydra, which
			// queues an evaluation's builds together, fails them all
			// with that run, none as a cached failure.
			m.failBuild(b, s, s.status, s.buildID, s.stopTime)
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

// creditRun tells whether b, whose top-level step s succeeded, is
// credited with s's run although s ran for another build, and if so
// marks the run credited. That is the first such build of the
// evaluation of the build s ran for: a job recorded after s was
// dispatched as an input of another job, since the scheduler runs an
// evaluation's steps before it ends. Hydra queues an evaluation's builds
// together and runs a step for a build whose top-level derivation it is,
// so it shows that job built, not cached, and the evaluation's other
// builds of the same derivation cached. It returns what the run's
// outputs declared in nix-support, which b then gets.
func (m *Model) creditRun(s *node, b *build) (*scraped, bool) {
	if s.creditEval == 0 || s.creditEval != b.eval {
		return nil, false
	}
	sc := s.scraped
	s.uncredit()
	return sc, true
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
	s.unsupportedT, s.giveUp = 0, ""
	if m.unsent[e.DrvPath] == e.Attempt {
		s.giveUp, s.leaseUntil = step.ReasonUnsent, 0
	}
	delete(m.unsent, e.DrvPath)
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

// expireLeases makes the lease of every dispatched or running step and
// of every dispatched verification due now, so the next pass gives them
// up, and returns how many. It is for a process whose workers died with
// the one before it: a dispatched step's command was lost with the
// in-process bus, or never sent when the kill came between
// StepDispatched and the send. One the durable bus delivers again is
// refused at its start, as the requeue moved the step to a new attempt.
func (m *Model) expireLeases() int {
	n := 0
	for s := range m.active {
		if s.reserved {
			continue
		}
		s.giveUp = ""
		if s.phase == step.Dispatched {
			s.giveUp = step.ReasonLost
		}
		s.leaseUntil = 0
		n++
	}
	for _, v := range m.verifies {
		if v.machine != nil && !v.reserved {
			v.leaseUntil = 0
			n++
		}
	}
	return n
}

// Unsent gives up attempt of the step building drv at the next pass:
// its BuildStep was recorded as dispatched but the bus refused the
// command (the database restarting, say), so no worker will take it, and
// its builds would otherwise wait for the whole lease.
func (m *Model) Unsent(drv string, attempt int) {
	s := m.steps[drv]
	switch {
	case s == nil:
	case s.phase == step.Dispatched && s.attempt == attempt && !s.reserved:
		s.giveUp, s.leaseUntil = step.ReasonUnsent, 0
	case s.reserved && s.attempt < attempt:
		m.unsent[drv] = attempt // its StepDispatched is still to come
	}
}

func (m *Model) stepStarted(e *events.StepStarted) {
	s := m.steps[e.DrvPath]
	if s == nil || e.Attempt != s.attempt || s.phase != step.Dispatched {
		return
	}
	s.phase, s.startTime, s.nr, s.giveUp = step.Running, e.StartTime, e.StepNr, ""
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
		s.phase, s.startTime, s.stopTime = step.Succeeded, e.StartTime, e.StopTime
		s.uncredit()
		if r := m.builds[e.BuildID]; r != nil && r.top != s && r.eval != 0 {
			s.creditEval, s.scraped = r.eval, newScraped(e)
		}
		m.refresh(s)
		// Every job of the derivation the run finishes gets what it
		// declared, the one credited with it and the others, as Hydra
		// gives a step's products to every build it finishes.
		declared := s.scraped
		for _, b := range s.builds {
			if b.top != s || b.finished {
				continue
			}
			ranFor := e.BuildID
			if _, credited := m.creditRun(s, b); credited {
				ranFor = b.id
			}
			m.finishSucceeded(b, s, e.StartTime, e.StopTime, ranFor, declared)
		}
		if m.closedEvals[s.creditEval] {
			// No job of that evaluation will be recorded: nobody else
			// can be credited with the run, and every dependency run
			// carries its outputs' default products.
			s.scraped = nil
		}
		for _, r := range s.rdeps {
			r.pending--
			m.refresh(r)
		}
		return
	}
	s.phase = step.Failed
	s.uncredit()
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
	s.stopTime = e.StopTime
	if r := m.builds[e.BuildID]; r != nil {
		s.creditEval = r.eval
	}
	m.refresh(s)
	var top *events.BuildFinished
	var deps []events.FailedDependent
	for _, b := range s.builds {
		f := m.failBuild(b, s, e.Status, e.BuildID, e.StopTime)
		switch {
		case f == nil:
		case f.PropagatedFrom != 0:
			deps = append(deps, events.FailedDependent{BuildID: f.BuildID, Status: f.Status})
		case b.id == e.BuildID:
			top = f
		}
	}
	// The build the step ran for lists the builds its failure took with
	// it; Actions appends its finish before theirs.
	if top != nil && len(deps) > 0 {
		slices.SortFunc(deps, func(a, b events.FailedDependent) int { return cmp.Compare(a.BuildID, b.BuildID) })
		top.Dependents = deps
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
	s.orphan, s.giveUp = false, ""
	if e.Reason == step.ReasonRestart {
		s.tries = 0
	}
	s.phase, s.retryAt, s.unsupportedT = step.Queued, e.RetryAt, 0
	s.uncredit()
	m.refresh(s)
}

// finishSucceeded finishes b, whose top-level step s succeeded while
// running for build ranFor (b itself when b is credited with the run).
// declared is what the run's outputs declared when it ran as a
// dependency: b gets it as its own.
func (m *Model) finishSucceeded(b *build, s *node, start, stop, ranFor int64, declared *scraped) {
	st := int(status.Success)
	if s.status == int(status.FailedWithOutput) {
		st = s.status
	}
	var size int64
	for _, o := range b.outputs {
		size += m.narSizes[o.Path]
	}
	f := events.BuildFinished{BuildID: b.id, Status: st, StartTime: start, StopTime: stop,
		IsCachedBuild: ranFor != b.id, Size: size, ReleaseName: s.releaseName}
	// The builder scrapes nix-support only for the build whose top-level
	// step it runs.
	if r := m.builds[ranFor]; ranFor != b.id && r != nil && r.top == s {
		f.ProductsOf = ranFor
	}
	if p := m.setFinish(b, f); p != nil {
		p.scraped = declared.forBuild(b.id)
	}
}

// failBuild finishes b because s failed for good with status st while
// running for build ranFor. b's own top-level step gives its status;
// a dependency gives 2 (for failures) or its status, with
// PropagatedFrom, as Hydra does.
//
// It returns the finish it set, nil when b already had one.
func (m *Model) failBuild(b *build, s *node, st int, ranFor, stop int64) *events.BuildFinished {
	if b.finished {
		return nil
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
	if p := m.setFinish(b, f); p != nil {
		return &p.ev
	}
	return nil
}

// setFinish asks for f unless b's finish is asked for already, and
// returns the new pending finish (nil if there was one).
func (m *Model) setFinish(b *build, f events.BuildFinished) *pendingFinish {
	if _, ok := m.finishes[b.id]; ok {
		return nil
	}
	p := &pendingFinish{ev: f}
	m.finishes[b.id] = p
	return p
}

// buildEnded takes a finished or cancelled build out of the queue at
// time at (Unix seconds; 0 if unknown), from when Evict counts.
func (m *Model) buildEnded(id int64, st int, at int64) {
	b := m.builds[id]
	delete(m.finishes, id)
	if b == nil || b.finished {
		return
	}
	b.finished, b.status, b.doneAt = true, st, at
	if !b.ended {
		b.ended = true
		m.ended = append(m.ended, b)
	}
	m.stats.buildsDone++
	if st == 0 || st == int(status.FailedWithOutput) {
		m.stats.buildsSucceeded++
	} else {
		m.stats.buildsFailed++
	}
	for _, s := range b.steps {
		s.live--
		b.held[s] = false
		m.refresh(s)
	}
	b.steps = b.steps[:0]
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
// evaluation ended. Steps of an open evaluation may have run for it (see
// runnable): the steps it needed stop counting it, and one that no build
// needs any more is left to the orphan rule, which aborts it if it is
// dispatched or running.
func (m *Model) buildWithdrawn(id int64) {
	b := m.builds[id]
	if b == nil {
		return
	}
	delete(m.builds, id)
	delete(m.finishes, id)
	unlist(m.waitingBuilds, b.drv, b)
	if !b.finished {
		b.finished = true
		for _, s := range b.steps {
			s.builds = slices.DeleteFunc(s.builds, func(x *build) bool { return x == b })
			delete(b.held, s)
			s.live--
			m.refresh(s)
		}
		b.steps = nil
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
		// A restart builds the failures again, even those of its own
		// evaluation's run that its jobs would otherwise fail with.
		for _, s := range b.steps {
			if s.phase == step.Failed {
				s.uncredit()
			}
		}
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
