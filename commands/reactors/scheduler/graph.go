package scheduler

import (
	"slices"

	"buildledger/domain/step"
	"buildledger/events"
)

// addStep puts a step the model does not hold into the graph in phase
// (Queued when it is queued; the phase its stream shows when it is
// restored): it links it to its inputs and to the steps already waiting
// for it.
func (m *Model) addStep(e *events.StepQueued, phase step.Phase) *node {
	s := &node{drv: e.DrvPath, qidx: -1, hidx: -1, phase: phase}
	m.steps[e.DrvPath] = s
	if e.EvalID != 0 && !m.closedEvals[e.EvalID] {
		// Remember the open evaluation: a step of it with an input not
		// in the model waits for its close (runnable).
		s.evalOpen = e.EvalID
		m.openEvals[e.EvalID] = append(m.openEvals[e.EvalID], s)
	}
	s.system, s.features, s.preferLocal, s.outputs = e.System, e.RequiredFeatures, e.PreferLocal, e.Outputs
	for _, in := range e.InputDrvs {
		if d := m.steps[in]; d != nil {
			m.link(s, d)
		} else {
			m.waitingSteps[in] = append(m.waitingSteps[in], s)
			s.waitsOn = append(s.waitsOn, in)
		}
	}
	// Steps queued before this one that need it.
	for _, r := range m.waitingSteps[e.DrvPath] {
		if r.phase == step.Queued && !r.reserved {
			r.waitsOn = slices.DeleteFunc(r.waitsOn, func(d string) bool { return d == e.DrvPath })
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
	return s
}

func (m *Model) stepQueued(e *events.StepQueued) {
	s := m.steps[e.DrvPath]
	if s == nil {
		s = m.addStep(e, step.Queued)
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

// evalClosed lets the steps of evaluation id that still wait for an
// input run, and forgets those that ran while it was open and that no
// build or step in memory needs any more (Evict skipped them then).
func (m *Model) evalClosed(id int64) {
	if m.closedEvals[id] {
		return
	}
	m.closedEvals[id] = true
	steps := m.openEvals[id]
	delete(m.openEvals, id)
	for _, s := range steps {
		s.evalOpen = 0
		m.refresh(s)
	}
	if m.cfg.EvictAfter < 0 {
		return
	}
	m.evictSteps(slices.DeleteFunc(steps, func(s *node) bool { return s.phase != step.Succeeded }))
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
	b := m.newBuild(e)
	m.builds[b.id] = b
	if s := m.steps[e.DrvPath]; s != nil {
		m.setTop(b, s)
	} else {
		m.waitingBuilds[e.DrvPath] = append(m.waitingBuilds[e.DrvPath], b)
	}
}

func (m *Model) newBuild(e *events.BuildQueued) *build {
	return &build{id: e.BuildID, eval: e.EvalID, jobset: m.jobsetOf(e.JobsetID), drv: e.DrvPath, globalPrio: e.GlobalPriority,
		localPrio: e.Meta.SchedulingPriority, maxSilent: e.Meta.MaxSilent, timeout: e.Meta.Timeout, outputs: e.Outputs}
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
	needed, listed := b.held[s]
	if needed {
		return
	}
	if b.held == nil {
		b.held = map[*node]bool{}
	}
	b.held[s] = true
	if !listed {
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

// runnable reports whether s belongs in its system's queue. A step of an
// evaluation that has not closed runs once every input it names is a step
// in the model and has succeeded; one naming an input the model does not
// hold waits for the close, since that input may still be queued (the
// evaluator appends inputs first, so an input it queues is never behind
// its dependent in the log, but an input it does not queue is only known
// absent when the evaluation ends).
func (s *node) runnable() bool {
	return s.phase == step.Queued && !s.reserved && s.pending == 0 && s.live > 0 &&
		(s.evalOpen == 0 || len(s.waitsOn) == 0)
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
			q = newQueue(s.system)
			m.queues[s.system] = q
		}
		q.add(s)
	case !want && s.sys != nil:
		s.sys.remove(s)
	}
}
