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
	pass   []*group // groups ordered for the current pass
	aside  []*node  // steps taken out during the pass, put back after it
}

// group is the runnable steps of one system whose builds belong to the
// same jobsets.
type group struct {
	key     string
	jobsets []*jobset
	share   float64
	heap    []*node
	pidx    int
}

func (q *queue) add(s *node) {
	s.sys, s.qidx = q, len(q.steps)
	q.steps = append(q.steps, s)
	if q.groups == nil {
		q.groups = map[string]*group{}
	}
	g := q.groups[s.sig]
	if g == nil {
		g = &group{key: s.sig, jobsets: slices.Clone(s.jobsets), pidx: -1}
		q.groups[s.sig] = g
	}
	s.grp = g
	s.hidx = len(g.heap)
	g.heap = append(g.heap, s)
	nodeUp(g.heap, s.hidx)
}

func (q *queue) remove(s *node) {
	last := q.steps[len(q.steps)-1]
	q.steps[s.qidx], last.qidx = last, s.qidx
	q.steps[len(q.steps)-1] = nil
	q.steps = q.steps[:len(q.steps)-1]
	if s.hidx >= 0 {
		nodeRemove(&s.grp.heap, s.hidx)
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
	x, y := a.heap[0], b.heap[0]
	if x.globalPrio != y.globalPrio {
		return x.globalPrio > y.globalPrio
	}
	if a.share != b.share {
		return a.share < b.share
	}
	return lessIn(x, y)
}

func nodeUp(h []*node, i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !lessIn(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		h[i].hidx, h[p].hidx = i, p
		i = p
	}
}

func nodeDown(h []*node, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && lessIn(h[r], h[l]) {
			j = r
		}
		if !lessIn(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		h[i].hidx, h[j].hidx = i, j
		i = j
	}
}

// nodeRemove takes the element at i out of the heap.
func nodeRemove(h *[]*node, i int) {
	old := *h
	n := len(old) - 1
	s := old[i]
	if i != n {
		old[i] = old[n]
		old[i].hidx = i
	}
	old[n] = nil
	*h = old[:n]
	if i < n {
		nodeDown(*h, i)
		nodeUp(*h, i)
	}
	s.hidx = -1
}

// nodeHeapify restores the heap after keys changed in bulk.
func nodeHeapify(h []*node) {
	for i, s := range h {
		s.hidx = i
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		nodeDown(h, i)
	}
}

func groupDown(h []*group, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && lessGroup(h[r], h[l]) {
			j = r
		}
		if !lessGroup(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// startPass orders the queue's non-empty groups for a pass.
func (q *queue) startPass() {
	q.pass = q.pass[:0]
	for _, g := range q.groups {
		if len(g.heap) == 0 {
			continue
		}
		g.share = lowestShare(g.jobsets)
		q.pass = append(q.pass, g)
	}
	for i := len(q.pass)/2 - 1; i >= 0; i-- {
		groupDown(q.pass, i)
	}
}

// popBest takes the best step of the pass out of its group heap; the
// caller either reserves it (which takes it out of the queue) or sets it
// aside with q.aside until endPass.
func (q *queue) popBest() *node {
	for len(q.pass) > 0 {
		g := q.pass[0]
		if len(g.heap) == 0 {
			n := len(q.pass) - 1
			q.pass[0] = q.pass[n]
			q.pass = q.pass[:n]
			groupDown(q.pass, 0)
			continue
		}
		s := g.heap[0]
		nodeRemove(&g.heap, 0)
		if len(g.heap) > 0 {
			groupDown(q.pass, 0)
		}
		return s
	}
	return nil
}

// endPass puts back the steps set aside during the pass.
func (q *queue) endPass() {
	for _, s := range q.aside {
		if s.sys == q && s.hidx < 0 {
			s.hidx = len(s.grp.heap)
			s.grp.heap = append(s.grp.heap, s)
			nodeUp(s.grp.heap, s.hidx)
		}
	}
	q.aside = q.aside[:0]
	q.pass = q.pass[:0]
}
