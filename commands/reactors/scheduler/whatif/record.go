// Package whatif replays recorded scheduling under another policy: it
// folds the steps of a window of the log (when each was queued, what it
// waited for, which machine ran it and for how long) and runs them again
// through a model of the scheduler's machine slots with a different order
// of dispatch. It answers "how long would the queue have waited under
// FIFO, fair shares or critical path first?" from the real durations, a
// question only a CI that keeps its decisions and durations can answer.
package whatif

import (
	"time"

	"buildledger/domain/status"
	"buildledger/events"
)

// Step is one recorded step: a derivation queued in the window that a
// machine built to its end (a success or a build failure; aborted
// attempts are not counted).
type Step struct {
	Drv            string
	Jobset         string // "project:jobset" of the build that queued it
	JobsetID       int64
	BuildID        int64
	GlobalPriority int
	LocalPriority  int
	Inputs         []string
	Queued         int64 // Unix seconds, its build's BuildQueued time
	Dispatched     int64 // first dispatch
	Machine        string
	Duration       int64 // seconds of the attempt that ended it
	Finished       int64 // its stop time
}

// Recording is the fold of a window of the log.
type Recording struct {
	From, To time.Time
	Steps    []Step
	// Slots are the machines' MaxJobs; Shares the jobsets' scheduling
	// shares by id.
	Slots  map[string]int
	Shares map[int64]int
}

// Recorder folds decoded events, in log order, into a Recording of the
// steps first queued between From and To.
type Recorder struct {
	from, to time.Time
	slots    map[string]int
	shares   map[int64]int
	builds   map[int64]events.BuildQueued
	steps    map[string]*Step
	order    []string
}

// NewRecorder returns a Recorder for the window [from, to].
func NewRecorder(from, to time.Time) *Recorder {
	return &Recorder{from: from, to: to, slots: map[string]int{}, shares: map[int64]int{},
		builds: map[int64]events.BuildQueued{}, steps: map[string]*Step{}}
}

// Add folds one event recorded at at.
func (r *Recorder) Add(p events.Payload, at time.Time) {
	switch e := p.(type) {
	case *events.MachineRegistered:
		r.slots[e.Name] = e.MaxJobs
	case *events.MachineUpdated:
		r.slots[e.Name] = e.MaxJobs
	case *events.JobsetCreated:
		r.shares[e.ID] = e.SchedulingShares
	case *events.BuildQueued:
		r.builds[e.BuildID] = *e
	case *events.StepQueued:
		// A step is queued with the build that brought it in: the
		// build's time is the queue time the evaluator gave, the
		// event's the time the log recorded it.
		b := r.builds[e.BuildID]
		if b.Timestamp != 0 {
			at = time.Unix(b.Timestamp, 0)
		}
		if _, seen := r.steps[e.DrvPath]; seen || at.Before(r.from) || at.After(r.to) {
			return
		}
		r.steps[e.DrvPath] = &Step{Drv: e.DrvPath, Jobset: b.Project + ":" + b.Jobset, JobsetID: b.JobsetID, BuildID: e.BuildID,
			GlobalPriority: b.GlobalPriority, LocalPriority: b.Meta.SchedulingPriority, Inputs: e.InputDrvs, Queued: at.Unix()}
		r.order = append(r.order, e.DrvPath)
	case *events.StepDispatched:
		if s := r.steps[e.DrvPath]; s != nil && s.Dispatched == 0 {
			s.Dispatched = e.Timestamp
		}
	case *events.StepFinished:
		s := r.steps[e.DrvPath]
		if s == nil || e.Machine == "" || e.StartTime <= 0 || e.StopTime < e.StartTime || s.Finished != 0 {
			return
		}
		if c := status.Code(e.Status); c == status.Aborted || c == status.Cancelled {
			return
		}
		s.Machine, s.Duration, s.Finished = e.Machine, e.StopTime-e.StartTime, e.StopTime
	}
}

// Recording returns the steps that ran to their end, in the order they
// were queued.
func (r *Recorder) Recording() Recording {
	rec := Recording{From: r.from, To: r.to, Slots: r.slots, Shares: r.shares}
	for _, d := range r.order {
		if s := r.steps[d]; s.Finished != 0 && s.Dispatched != 0 {
			rec.Steps = append(rec.Steps, *s)
		}
	}
	return rec
}
