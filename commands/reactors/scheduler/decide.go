package scheduler

import (
	"sort"

	"buildledger/domain/step"
	"buildledger/events"
)

// Decision is one dispatch: run DrvPath on Machine as attempt Attempt for
// build BuildID. Decide reserves the machine slot at once; the caller
// records StepDispatched and calls Release if that is refused.
type Decision struct {
	DrvPath string
	System  string
	Outputs []events.Output
	BuildID int64
	StepNr  int
	// Dependency: the step is not the top-level step of BuildID
	// (commands.BuildStep.Dependency).
	Dependency    bool
	Attempt       int
	Machine       string
	MachineConfig events.MachineConfig
	Reason        events.DispatchReason
	LeaseUntil    int64
	Timeout       int
	MaxSilent     int
	MaxLogSize    int64
	MaxOutputSize int64
	// Verify is set for a reproducibility rebuild, recorded as
	// VerificationDispatched instead of StepDispatched.
	Verify *VerifyDecision
}

// Dispatched returns the event that records d at time now.
func (d Decision) Dispatched(now int64) events.StepDispatched {
	return events.StepDispatched{DrvPath: d.DrvPath, BuildID: d.BuildID, Machine: d.Machine, Attempt: d.Attempt,
		Reason: d.Reason, LeaseUntil: d.LeaseUntil, Timestamp: now}
}

// Order prepares a dispatch pass at time now: it prunes the share window,
// recomputes critical paths when due, and orders the groups of every
// queue that has a free machine. Decide calls it; benchmarks call it
// apart to time it.
func (m *Model) Order(now int64) {
	m.prune(now)
	if m.graphDirty && (m.lastCritical == 0 || now-m.lastCritical >= m.cfg.CriticalPathEvery) {
		m.criticalPaths()
		m.graphDirty, m.lastCritical = false, now
		for _, q := range m.queues {
			for _, g := range q.groups {
				g.steps.Init()
			}
		}
	}
	for _, q := range m.queues {
		q.pass.Clear()
		if m.hasFree(q.system) {
			q.startPass()
		}
	}
}

// EndPass ends the pass Order began: steps passed over go back into
// their queues. Decide calls it.
func (m *Model) EndPass() {
	for _, q := range m.queues {
		q.endPass()
	}
}

func lowestShare(js []*jobset) float64 {
	if len(js) == 0 {
		return 0
	}
	best := js[0].used
	for _, j := range js[1:] {
		best = min(best, j.used)
	}
	return best
}

func (m *Model) hasFree(system string) bool {
	for _, mc := range m.candidates(system) {
		if mc.free() {
			return true
		}
	}
	return false
}

// prune drops share charges older than 24 hours and refreshes each
// jobset's share used.
func (m *Model) prune(now int64) {
	const window = 24 * 3600
	for _, j := range m.jobsets {
		i := 0
		for i < len(j.window) && j.window[i].at < now-window {
			j.seconds -= j.window[i].seconds
			i++
		}
		if i > 0 {
			j.window = append(j.window[:0], j.window[i:]...)
		}
		j.used = j.shareUsed()
	}
}

// Decide runs a dispatch pass at time now and returns up to max
// decisions (max ≤ 0: no limit), each with its machine slot reserved.
func (m *Model) Decide(now int64, max int) []Decision {
	m.Order(now)
	defer m.EndPass()
	var out []Decision
	systems := make([]string, 0, len(m.queues))
	for sys, q := range m.queues {
		if q.pass.Len() > 0 {
			systems = append(systems, sys)
		}
	}
	sort.Strings(systems)
	for _, sys := range systems {
		q := m.queues[sys]
		for max <= 0 || len(out) < max {
			d, ok := m.next(q, now)
			if !ok {
				break
			}
			out = append(out, d)
		}
	}
	if max <= 0 || len(out) < max {
		out = append(out, m.decideVerifications(now, max-len(out))...)
	}
	return out
}

// next takes q's best step that fits a free machine and reserves it. ok
// is false when no step left in the pass fits a free machine.
func (m *Model) next(q *queue, now int64) (Decision, bool) {
	cands := m.candidates(q.system)
	for {
		if !m.hasFree(q.system) {
			return Decision{}, false
		}
		s := q.popBest()
		if s == nil {
			return Decision{}, false
		}
		if s.retryAt > now {
			q.aside = append(q.aside, s)
			continue
		}
		mc := pick(s, cands)
		if mc == nil {
			q.aside = append(q.aside, s)
			continue
		}
		return m.reserve(s, mc, now, len(q.steps)), true
	}
}

// reserve takes mc's slot for s and builds the decision.
func (m *Model) reserve(s *node, mc *machine, now int64, candidates int) Decision {
	b := m.representative(s)
	s.reserved, s.machine = true, mc
	mc.current++
	nr, dependency := 1, false
	if b != nil {
		s.buildID, dependency = b.id, b.top != s
		nr = b.nr + b.reservedNr + 1
		b.reservedNr++
	}
	share := 0.0
	if s.grp != nil {
		share = s.grp.share
	}
	m.refresh(s)
	m.stats.decisions++
	timeout, silent := m.timeouts(s)
	return Decision{
		DrvPath: s.drv, System: s.system, Outputs: s.outputs, BuildID: s.buildID, StepNr: nr, Dependency: dependency,
		Attempt: s.attempt + 1, Machine: mc.name, MachineConfig: mc.cfg,
		Reason: events.DispatchReason{GlobalPriority: s.globalPrio, ShareUsed: share, CriticalPath: s.critical,
			Dependents: len(s.rdeps), LocalPriority: s.localPrio, LowestBuildID: s.lowestBuild, Candidates: candidates},
		LeaseUntil: now + m.cfg.DispatchLease, Timeout: timeout, MaxSilent: silent,
		MaxLogSize: m.cfg.MaxLogSize, MaxOutputSize: m.cfg.MaxOutputSize,
	}
}

// representative picks the build a step runs for: the lowest unfinished
// build whose top-level step it is, else the lowest unfinished build that
// needs it.
func (m *Model) representative(s *node) *build {
	var top, any *build
	for _, b := range s.builds {
		if b.finished {
			continue
		}
		if b.top == s && (top == nil || b.id < top.id) {
			top = b
		}
		if any == nil || b.id < any.id {
			any = b
		}
	}
	if top != nil {
		return top
	}
	return any
}

// Release undoes the reservation of Decision d, after recording its
// StepDispatched failed. A reservation already confirmed by the event is
// left alone.
func (m *Model) Release(d Decision) {
	if d.Verify != nil {
		m.releaseVerification(d)
		return
	}
	s := m.steps[d.DrvPath]
	if s == nil || !s.reserved || s.attempt+1 != d.Attempt {
		return
	}
	m.release(s)
	m.refresh(s)
}

// criticalPaths sets, for every unfinished step, the length of the
// longest chain of unfinished steps that depend on it (itself included).
func (m *Model) criticalPaths() {
	m.mark++
	mark := m.mark
	type frame struct {
		s *node
		i int
	}
	var stack []frame
	for _, root := range m.steps {
		if root.mark == mark {
			continue
		}
		stack = append(stack[:0], frame{s: root})
		root.mark = mark
		root.critical = 1
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.i < len(f.s.rdeps) {
				r := f.s.rdeps[f.i]
				f.i++
				if r.mark != mark {
					r.mark, r.critical = mark, 1
					stack = append(stack, frame{s: r})
				}
				continue
			}
			s := f.s
			stack = stack[:len(stack)-1]
			best := 0
			for _, r := range s.rdeps {
				if r.phase != step.Succeeded && r.phase != step.Failed {
					best = max(best, r.critical)
				}
			}
			s.critical = best + 1
		}
	}
}

// unsupported reports whether no usable machine takes s, whatever its
// load.
func (m *Model) unsupported(s *node) bool {
	for _, mc := range m.candidates(s.system) {
		if mc.usable() && mc.supportsFeatures(s) {
			return false
		}
	}
	return true
}
