package scheduler

import (
	"slices"
	"strconv"
	"strings"
)

// queue holds the runnable steps of one system: an unordered set for
// scans, and the same steps in groups of equal jobsets, each a heap
// ordered by the step keys that do not depend on share usage. A pass
// orders the groups by share used and merges their heads, so ordering a
// pass costs O(groups), not O(steps).
type queue struct {
	system string
	steps  []*node
	groups map[string]*group
	pass   minHeap[*group] // groups ordered for the current pass
	aside  []*node         // steps taken out during the pass, put back after it
}

func newQueue(system string) *queue {
	return &queue{system: system, pass: minHeap[*group]{less: lessGroup}}
}

// group is the runnable steps of one system whose builds belong to the
// same jobsets.
type group struct {
	key     string
	jobsets []*jobset
	share   float64
	steps   minHeap[*node]
}

// setHeapIndex keeps a step's index in its group's heap.
func setHeapIndex(s *node, i int) { s.hidx = i }

func (q *queue) add(s *node) {
	s.sys, s.qidx = q, len(q.steps)
	q.steps = append(q.steps, s)
	if q.groups == nil {
		q.groups = map[string]*group{}
	}
	g := q.groups[s.sig]
	if g == nil {
		g = &group{key: s.sig, jobsets: slices.Clone(s.jobsets),
			steps: minHeap[*node]{less: lessIn, setIndex: setHeapIndex}}
		q.groups[s.sig] = g
	}
	s.grp = g
	g.steps.Push(s)
}

func (q *queue) remove(s *node) {
	last := q.steps[len(q.steps)-1]
	q.steps[s.qidx], last.qidx = last, s.qidx
	q.steps[len(q.steps)-1] = nil
	q.steps = q.steps[:len(q.steps)-1]
	if s.hidx >= 0 {
		s.grp.steps.Remove(s.hidx)
	}
	s.sys, s.qidx, s.grp, s.hidx = nil, -1, nil, -1
}

// signature returns the group key of a step's jobsets.
func signature(js []*jobset) string {
	switch len(js) {
	case 0:
		return ""
	case 1:
		return strconv.FormatInt(js[0].id, 10)
	}
	ids := make([]string, len(js))
	for i, j := range js {
		ids[i] = strconv.FormatInt(j.id, 10)
	}
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// lessIn orders steps within a group: higher global priority, longer
// critical path, more dependents, higher local priority, lower build id,
// then by derivation path.
func lessIn(a, b *node) bool {
	switch {
	case a.globalPrio != b.globalPrio:
		return a.globalPrio > b.globalPrio
	case a.critical != b.critical:
		return a.critical > b.critical
	case len(a.rdeps) != len(b.rdeps):
		return len(a.rdeps) > len(b.rdeps)
	case a.localPrio != b.localPrio:
		return a.localPrio > b.localPrio
	case a.lowestBuild != b.lowestBuild:
		return a.lowestBuild < b.lowestBuild
	}
	return a.drv < b.drv
}

// lessGroup orders groups by their heads in Hydra's full order: global
// priority, then share used, then the rest of lessIn.
func lessGroup(a, b *group) bool {
	x, y := a.steps.Top(), b.steps.Top()
	if x.globalPrio != y.globalPrio {
		return x.globalPrio > y.globalPrio
	}
	if a.share != b.share {
		return a.share < b.share
	}
	return lessIn(x, y)
}

// startPass orders the queue's non-empty groups for a pass.
func (q *queue) startPass() {
	q.pass.Clear()
	for _, g := range q.groups {
		if g.steps.Len() == 0 {
			continue
		}
		g.share = lowestShare(g.jobsets)
		q.pass.items = append(q.pass.items, g)
	}
	q.pass.Init()
}

// popBest takes the best step of the pass out of its group heap; the
// caller either reserves it (which takes it out of the queue) or sets it
// aside with q.aside until endPass.
func (q *queue) popBest() *node {
	for q.pass.Len() > 0 {
		g := q.pass.Top()
		if g.steps.Len() == 0 {
			q.pass.Remove(0)
			continue
		}
		s := g.steps.Remove(0)
		if g.steps.Len() > 0 {
			q.pass.Fix(0)
		}
		return s
	}
	return nil
}

// endPass puts back the steps set aside during the pass.
func (q *queue) endPass() {
	for _, s := range q.aside {
		if s.sys == q && s.hidx < 0 {
			s.grp.steps.Push(s)
		}
	}
	q.aside = q.aside[:0]
	q.pass.Clear()
}
