package scheduler

import (
	"slices"

	buildstate "buildledger/domain/build"
	"buildledger/domain/step"
	"buildledger/events"
)

// Evict forgets the builds that finished at least Config.EvictAfter
// seconds before now (by the time their finishing event carries, so that
// a cold start forgets old builds as it folds them), and then every step
// that no build or step left in memory needs and that is not dispatched,
// running or awaiting a follow-up. It returns how many builds and steps it
// forgot. Evicting does not change a decision: a forgotten step that is
// queued again, or a forgotten build that is restarted, is read back from
// its stream first (RestoreStep, RestoreBuild); a forgotten step that
// succeeded is, like an input never queued, nothing to wait for.
func (m *Model) Evict(now int64) (builds, steps int) {
	if m.cfg.EvictAfter < 0 {
		return 0, 0
	}
	keep := m.ended[:0]
	var gone []*build
	for _, b := range m.ended {
		switch {
		case !b.finished || m.builds[b.id] != b:
			b.ended = false // restarted or withdrawn
		case b.doneAt == 0:
			b.doneAt = now // finished at an unknown time: count from now
			keep = append(keep, b)
		case now-b.doneAt < m.cfg.EvictAfter || m.finishes[b.id] != nil:
			keep = append(keep, b)
		default:
			b.ended = false
			gone = append(gone, b)
		}
	}
	clear(m.ended[len(keep):])
	m.ended = keep
	return len(gone), m.evictBuilds(gone)
}

// evictBuilds forgets the finished builds gone, and the steps only they
// held. Each step that lists some of them is cleaned in one pass, not
// one per build: stdenv lists most builds.
func (m *Model) evictBuilds(gone []*build) int {
	if len(gone) == 0 {
		return 0
	}
	forget := make(map[*build]bool, len(gone))
	var holders, roots []*node
	seen := map[*node]bool{}
	for _, b := range gone {
		forget[b] = true
		delete(m.builds, b.id)
		unlist(m.waitingBuilds, b.drv, b)
		for s := range b.held {
			if !seen[s] {
				seen[s] = true
				holders = append(holders, s)
			}
		}
		if b.top != nil {
			roots = append(roots, b.top)
		}
		b.held, b.top, b.steps = nil, nil, nil
	}
	for _, s := range holders {
		s.builds = slices.DeleteFunc(s.builds, func(x *build) bool { return forget[x] })
	}
	return m.evictSteps(append(holders, roots...))
}

// unlist takes v out of the list lists holds under k, and the key with
// its list once it is empty.
func unlist[V comparable](lists map[string][]V, k string, v V) {
	w, ok := lists[k]
	if !ok {
		return
	}
	if w = slices.DeleteFunc(w, func(x V) bool { return x == v }); len(w) > 0 {
		lists[k] = w
	} else {
		delete(lists, k)
	}
}

// evictable reports whether s can be forgotten: no build in memory lists
// it, no step in memory depends on it, and nothing is under way for it.
func (m *Model) evictable(s *node) bool {
	switch s.phase {
	case step.Dispatched, step.Running:
		return false
	}
	_, active := m.active[s]
	return len(s.builds) == 0 && len(s.rdeps) == 0 && s.live == 0 && !s.reserved && !active &&
		s.sys == nil && s.evalOpen == 0 && m.requeues[s] == nil
}

// evictSteps forgets the roots that are evictable, then the inputs that
// became so, in rounds: a round's forgotten steps leave each input's
// reverse dependencies in one pass over them, not one per step (stdenv
// is an input of every package). It returns how many steps it forgot.
func (m *Model) evictSteps(roots []*node) int {
	n := 0
	for len(roots) > 0 {
		var inputs []*node
		seen := map[*node]bool{}
		for _, s := range roots {
			if m.steps[s.drv] != s || !m.evictable(s) {
				continue
			}
			delete(m.steps, s.drv)
			n++
			for _, o := range s.outputs {
				delete(m.narSizes, o.Path)
			}
			for _, in := range s.waitsOn {
				unlist(m.waitingSteps, in, s)
			}
			for _, d := range s.inputs {
				if !seen[d] {
					seen[d] = true
					inputs = append(inputs, d)
				}
			}
			s.inputs, s.waitsOn, s.jobsets = nil, nil, nil
		}
		for _, d := range inputs {
			m.rekey(d, func() { d.rdeps = slices.DeleteFunc(d.rdeps, func(x *node) bool { return m.steps[x.drv] != x }) })
		}
		roots = inputs
	}
	return n
}

// HasStep reports whether the model holds the step of drv.
func (m *Model) HasStep(drv string) bool { return m.steps[drv] != nil }

// HasBuild reports whether the model holds build id.
func (m *Model) HasBuild(id int64) bool { return m.builds[id] != nil }

// StepHistory is what a step's stream says, for RestoreStep: its first
// StepQueued, the fold of its events (domain/step), and the release name
// its last successful attempt scraped.
type StepHistory struct {
	Queued      *events.StepQueued
	State       step.State
	ReleaseName string
}

// RestoreStep puts back a step Evict forgot, as its stream left it, before
// an event that needs it (it is queued again, or a restarted build needs
// it). Restore a step's inputs before the step. A step the model holds is
// left alone.
func (m *Model) RestoreStep(h StepHistory) {
	if h.Queued == nil || m.steps[h.Queued.DrvPath] != nil {
		return
	}
	st := h.State
	s := m.addStep(h.Queued, st.Phase)
	s.attempt, s.tries, s.status, s.buildID, s.retryAt, s.releaseName = st.Attempt, st.Tries, st.Status, st.BuildID, st.RetryAt, h.ReleaseName
	if st.Phase == step.Dispatched || st.Phase == step.Running {
		// Not evicted so, but read so: let the lease decide.
		s.leaseUntil = st.LeaseUntil
		m.active[s] = struct{}{}
	}
	m.refresh(s)
}

// RestoreBuild puts back a finished build Evict forgot, before the event
// that restarts it: q is its BuildQueued, st the fold of its stream
// (domain/build) and nr the BuildSteps numbers its history used. Its
// steps are restored first (RestoreStep). A build the model holds, or one
// that is not finished, is left alone.
func (m *Model) RestoreBuild(q *events.BuildQueued, st buildstate.State, nr int) {
	if q == nil || !st.Finished || m.builds[q.BuildID] != nil {
		return
	}
	b := m.newBuild(q)
	b.globalPrio, b.finished, b.status, b.nr, b.ended = st.GlobalPriority, true, st.Status, nr, true
	m.builds[b.id] = b
	m.ended = append(m.ended, b)
	if s := m.steps[q.DrvPath]; s != nil {
		b.top = s
	} else {
		m.waitingBuilds[q.DrvPath] = append(m.waitingBuilds[q.DrvPath], b)
	}
}
