package whatif

import (
	"container/heap"
	"fmt"
	"math"
	"sort"
)

// Policy orders the runnable steps of a machine.
type Policy string

// The policies Replay knows.
const (
	// FIFO runs the step runnable longest first.
	FIFO Policy = "fifo"
	// Hydra is the scheduler's order (package scheduler): global
	// priority, then the lowest share used by the step's jobset, then the
	// longest chain of dependents, more direct dependents, local
	// priority, lower build id.
	Hydra Policy = "hydra"
	// Shares runs the step whose jobset used the least of its shares,
	// then the one runnable longest.
	Shares Policy = "shares"
	// CriticalPath runs the step with the longest chain of recorded
	// durations through its dependents first.
	CriticalPath Policy = "critical-path"
)

// ParsePolicy checks a policy name.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case FIFO, Hydra, Shares, CriticalPath:
		return p, nil
	}
	return "", fmt.Errorf("policy %q: want fifo, hydra, shares or critical-path", s)
}

// Waits are the queue waits (seconds from runnable to dispatched) and
// the makespan (first queued to last finished) of a schedule.
type Waits struct {
	PerJobset map[string][]int64
	Makespan  int64
}

// Recorded returns the waits of the recording as it happened. A step is
// runnable when it was queued and its inputs of the window finished.
func Recorded(rec Recording) Waits {
	finished := map[string]int64{}
	for _, s := range rec.Steps {
		finished[s.Drv] = s.Finished
	}
	w := Waits{PerJobset: map[string][]int64{}}
	first, last := int64(math.MaxInt64), int64(0)
	for _, s := range rec.Steps {
		ready := s.Queued
		for _, in := range s.Inputs {
			ready = max(ready, finished[in])
		}
		w.PerJobset[s.Jobset] = append(w.PerJobset[s.Jobset], max(s.Dispatched-ready, 0))
		first, last = min(first, s.Queued), max(last, s.Finished)
	}
	if len(rec.Steps) > 0 {
		w.Makespan = last - first
	}
	return w
}

// sim is a step in a replay.
type sim struct {
	Step
	rdeps    []*sim
	pending  int
	ready    int64
	critical int   // longest chain of dependents, itself included
	costPath int64 // longest sum of durations through its dependents
}

// Replay runs the recorded steps again under policy: each on the
// machine that built it, for as long as it took, at most the machine's
// MaxJobs at once (one when unknown), starting when it was queued and its
// inputs finished. It returns the waits it gives.
func Replay(rec Recording, policy Policy) Waits {
	steps := make([]*sim, len(rec.Steps))
	byDrv := map[string]*sim{}
	for i, s := range rec.Steps {
		steps[i] = &sim{Step: s, ready: s.Queued}
		byDrv[s.Drv] = steps[i]
	}
	for _, s := range steps {
		for _, d := range s.Inputs {
			if in := byDrv[d]; in != nil && in != s {
				in.rdeps = append(in.rdeps, s)
				s.pending++
			}
		}
	}
	paths(steps)
	machines := map[string]*simMachine{}
	for _, s := range steps {
		if machines[s.Machine] == nil {
			machines[s.Machine] = &simMachine{slots: max(rec.Slots[s.Machine], 1), ready: &runnable{}}
		}
	}
	used := map[int64]float64{}
	share := func(s *sim) float64 {
		return used[s.JobsetID] / float64(max(rec.Shares[s.JobsetID], 1))
	}
	arrivals := append([]*sim(nil), steps...)
	sort.SliceStable(arrivals, func(i, j int) bool { return arrivals[i].Queued < arrivals[j].Queued })
	running := &finishHeap{}
	w := Waits{PerJobset: map[string][]int64{}}
	first, last := int64(math.MaxInt64), int64(0)
	next := 0
	for next < len(arrivals) || running.Len() > 0 {
		t := int64(math.MaxInt64)
		if next < len(arrivals) {
			t = arrivals[next].Queued
		}
		if running.Len() > 0 {
			t = min(t, (*running)[0].end)
		}
		for running.Len() > 0 && (*running)[0].end <= t {
			r := heap.Pop(running).(run)
			machines[r.s.Machine].busy--
			used[r.s.JobsetID] += float64(r.s.Duration)
			last = max(last, r.end)
			for _, d := range r.s.rdeps {
				d.ready = max(d.ready, r.end)
				if d.pending--; d.pending == 0 && d.Queued <= t {
					machines[d.Machine].ready.push(d)
				}
			}
		}
		for next < len(arrivals) && arrivals[next].Queued <= t {
			s := arrivals[next]
			next++
			first = min(first, s.Queued)
			if s.pending == 0 {
				machines[s.Machine].ready.push(s)
			}
		}
		names := make([]string, 0, len(machines))
		for n := range machines {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			m := machines[n]
			for m.busy < m.slots && len(m.ready.items) > 0 {
				s := m.ready.take(policy, share)
				m.busy++
				w.PerJobset[s.Jobset] = append(w.PerJobset[s.Jobset], t-s.ready)
				heap.Push(running, run{s: s, end: t + s.Duration})
			}
		}
	}
	if len(steps) > 0 {
		w.Makespan = last - first
	}
	return w
}

// paths sets each step's chain of dependents, by count and by duration.
func paths(steps []*sim) {
	done := map[*sim]bool{}
	var visit func(s *sim)
	visit = func(s *sim) {
		if done[s] {
			return
		}
		done[s] = true
		s.critical, s.costPath = 1, s.Duration
		for _, r := range s.rdeps {
			visit(r)
			s.critical = max(s.critical, r.critical+1)
			s.costPath = max(s.costPath, r.costPath+s.Duration)
		}
	}
	for _, s := range steps {
		visit(s)
	}
}

type simMachine struct {
	slots, busy int
	ready       *runnable
}

// runnable holds a machine's runnable steps. Shares change as steps
// finish, so no heap keeps them in order: the best step is found by a
// scan, linear in the runnable steps of one machine.
type runnable struct{ items []*sim }

func (h *runnable) push(s *sim) { h.items = append(h.items, s) }

// take removes and returns the best step under policy.
func (h *runnable) take(policy Policy, share func(*sim) float64) *sim {
	best := 0
	for i := 1; i < len(h.items); i++ {
		if before(policy, share, h.items[i], h.items[best]) {
			best = i
		}
	}
	s := h.items[best]
	h.items[best] = h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return s
}

// before reports whether a goes before b under policy; ties go to the
// step runnable first, then the lower build id and derivation.
func before(policy Policy, share func(*sim) float64, a, b *sim) bool {
	switch policy {
	case Hydra:
		switch {
		case a.GlobalPriority != b.GlobalPriority:
			return a.GlobalPriority > b.GlobalPriority
		case share(a) != share(b):
			return share(a) < share(b)
		case a.critical != b.critical:
			return a.critical > b.critical
		case len(a.rdeps) != len(b.rdeps):
			return len(a.rdeps) > len(b.rdeps)
		case a.LocalPriority != b.LocalPriority:
			return a.LocalPriority > b.LocalPriority
		case a.BuildID != b.BuildID:
			return a.BuildID < b.BuildID
		}
	case Shares:
		if share(a) != share(b) {
			return share(a) < share(b)
		}
	case CriticalPath:
		if a.costPath != b.costPath {
			return a.costPath > b.costPath
		}
	}
	switch {
	case a.ready != b.ready:
		return a.ready < b.ready
	case a.BuildID != b.BuildID:
		return a.BuildID < b.BuildID
	}
	return a.Drv < b.Drv
}

type run struct {
	s   *sim
	end int64
}

type finishHeap []run

func (h finishHeap) Len() int           { return len(h) }
func (h finishHeap) Less(i, j int) bool { return h[i].end < h[j].end }
func (h finishHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *finishHeap) Push(x any)        { *h = append(*h, x.(run)) }
func (h *finishHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of
// xs, 0 for none.
func Percentile(xs []int64, p float64) int64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}
