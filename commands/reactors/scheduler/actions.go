package scheduler

import (
	"fmt"
	"slices"
	"sort"

	"buildledger/domain/status"
	"buildledger/domain/step"
	"buildledger/events"
)

// ActionKind tells which command carries out an Action.
type ActionKind int

// The follow-ups the model asks for.
const (
	// FinishBuild: record Action.Finish on the build's stream, after
	// Action.Products and Metrics (commands.FinishCreditedBuild).
	FinishBuild ActionKind = iota + 1
	// RequeueStep: record Action.Requeue on the step's stream
	// (commands.RequeueStep at time Action.Now): a retry after a
	// transient failure, a lease that expired before StepStarted, or a
	// failed step a restarted build needs again.
	RequeueStep
	// AbandonStep: record Action.StepEnd (status 3) for a running attempt
	// whose builder went silent past its timeout (commands.AbandonStep).
	AbandonStep
	// AbortStep: record Action.StepEnd (status 9) for a queued step no
	// machine supports (commands.AbortStep).
	AbortStep
	// CancelStep: record Action.StepEnd (status 4) for a dispatched or
	// running attempt no unfinished build needs since a build was
	// cancelled (commands.FinishStep). The builder worker notices the
	// attempt ended and kills its build.
	CancelStep
)

// String names the kind.
func (k ActionKind) String() string {
	switch k {
	case FinishBuild:
		return "finish-build"
	case RequeueStep:
		return "requeue-step"
	case AbandonStep:
		return "abandon-step"
	case AbortStep:
		return "abort-step"
	case CancelStep:
		return "cancel-step"
	}
	return fmt.Sprintf("action(%d)", int(k))
}

// Action is a command the events call for. The model stops asking for it
// when its event is applied, and asks again after Config.ActionRetry
// seconds if the event does not come.
type Action struct {
	Kind   ActionKind
	Now    int64
	Finish *events.BuildFinished
	// Products and Metrics go before Finish, for a build credited with a
	// run as a dependency (commands.FinishCreditedBuild).
	Products []events.ProductScraped
	Metrics  []events.MetricScraped
	Requeue  *events.StepRetryScheduled
	StepEnd  *events.StepFinished
}

// Actions returns the follow-ups due at time now, in a stable order:
// build finishes, then step requeues, abandons, aborts and cancels.
func (m *Model) Actions(now int64) []Action {
	var out []Action
	ids := make([]int64, 0, len(m.finishes))
	for id, f := range m.finishes {
		if f.notBefore <= now && !m.heldBack(f) {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		f := m.finishes[id]
		f.notBefore = now + m.cfg.ActionRetry
		ev := f.ev
		if ev.StopTime == 0 {
			ev.StopTime = now
		}
		if ev.StartTime == 0 {
			ev.StartTime = ev.StopTime
		}
		a := Action{Kind: FinishBuild, Now: now, Finish: &ev}
		if f.scraped != nil {
			a.Products, a.Metrics = f.scraped.Products, f.scraped.Metrics
		}
		out = append(out, a)
	}
	var steps []Action
	for _, r := range m.requeues {
		if r.notBefore > now {
			continue
		}
		r.notBefore = now + m.cfg.ActionRetry
		ev := r.ev
		if ev.RetryAt == 0 {
			ev.RetryAt = now
		}
		steps = append(steps, Action{Kind: RequeueStep, Now: now, Requeue: &ev})
	}
	for s := range m.active {
		if s.orphan && s.live == 0 && !s.reserved {
			if s.cancelAt <= now {
				s.cancelAt = now + m.cfg.ActionRetry
				steps = append(steps, m.cancelAction(s, now))
			}
			continue
		}
		if s.leaseUntil > now || s.leaseAsked > now || s.reserved {
			continue
		}
		s.leaseAsked = now + m.cfg.ActionRetry
		m.stats.leaseExpiries++
		if s.phase == step.Running {
			steps = append(steps, Action{Kind: AbandonStep, Now: now, StepEnd: &events.StepFinished{
				DrvPath: s.drv, BuildID: s.buildID, StepNr: s.stepNr(m), Machine: m.machineName(s), Attempt: s.attempt,
				Status: int(status.Aborted), ErrorMsg: "builder lost: no result within the step's timeout",
				StartTime: s.startTime, StopTime: now}})
			continue
		}
		reason := step.ReasonLease
		if s.giveUp != "" {
			reason = s.giveUp
		}
		steps = append(steps, Action{Kind: RequeueStep, Now: now, Requeue: &events.StepRetryScheduled{
			DrvPath: s.drv, Attempt: s.attempt, RetryAt: now, Reason: reason}})
	}
	steps = append(steps, m.unsupportedActions(now)...)
	sort.Slice(steps, func(i, j int) bool {
		a, b := steps[i], steps[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return actionDrv(a) < actionDrv(b)
	})
	return append(out, steps...)
}

// heldBack tells whether f waits for the finish of the build whose
// failed step took it along, which lists it (BuildFinished.Dependents)
// and must come first in the log. A build that lists dependents never
// waits itself, so nothing waits in a circle.
func (m *Model) heldBack(f *pendingFinish) bool {
	top := m.finishes[f.ev.PropagatedFrom]
	return f.ev.PropagatedFrom != 0 && top != nil &&
		slices.ContainsFunc(top.ev.Dependents, func(d events.FailedDependent) bool { return d.BuildID == f.ev.BuildID })
}

// cancelAction ends the orphaned attempt of s with status 4, as Hydra
// records a step it aborted because no build needs it any more.
func (m *Model) cancelAction(s *node, now int64) Action {
	start := s.startTime
	if s.phase != step.Running || start == 0 {
		start = now
	}
	return Action{Kind: CancelStep, Now: now, StepEnd: &events.StepFinished{
		DrvPath: s.drv, BuildID: s.buildID, StepNr: s.stepNr(m), Machine: m.machineName(s), Attempt: s.attempt,
		Status: int(status.Cancelled), ErrorMsg: "cancelled: no queued build needs this step any more",
		StartTime: start, StopTime: now}}
}

func actionDrv(a Action) string {
	if a.Requeue != nil {
		return a.Requeue.DrvPath
	}
	if a.StepEnd != nil {
		return a.StepEnd.DrvPath
	}
	return ""
}

func (m *Model) machineName(s *node) string {
	if s.machine != nil {
		return s.machine.name
	}
	return ""
}

// stepNr returns the BuildSteps number of the step's current attempt, as
// its StepStarted told, or the next free one of its build.
func (s *node) stepNr(m *Model) int {
	if s.nr != 0 {
		return s.nr
	}
	if b := m.builds[s.buildID]; b != nil {
		return b.nr + b.reservedNr + 1
	}
	return 1
}

// unsupportedActions finds runnable steps no machine supports and, once
// they waited MaxUnsupported, asks to abort them with status 9.
func (m *Model) unsupportedActions(now int64) []Action {
	if m.lastUnsup != 0 && now-m.lastUnsup < m.cfg.UnsupportedEvery {
		return nil
	}
	m.lastUnsup = now
	var out []Action
	for _, q := range m.queues {
		for _, s := range q.steps {
			if !m.unsupported(s) {
				s.unsupportedT = 0
				continue
			}
			if s.unsupportedT == 0 {
				s.unsupportedT = now
			}
			if now-s.unsupportedT < m.cfg.MaxUnsupported || s.abortAt > now {
				continue
			}
			s.abortAt = now + m.cfg.ActionRetry
			b := m.representative(s)
			var id int64
			nr := 1
			if b != nil {
				id, nr = b.id, b.nr+b.reservedNr+1
			}
			out = append(out, Action{Kind: AbortStep, Now: now, StepEnd: &events.StepFinished{
				DrvPath: s.drv, BuildID: id, StepNr: nr, Attempt: s.attempt, Status: int(status.Unsupported),
				ErrorMsg:  fmt.Sprintf("unsupported system type '%s'", s.system),
				StartTime: now, StopTime: now}})
		}
	}
	return out
}
