// Package step is the Step aggregate: one derivation to build, folded from
// its step-<hash> stream. The stream records every attempt: the
// scheduler's dispatch (with a lease), the builder's start and finish, and
// retries. Its revision is what makes dispatch, start and finish
// idempotent: each decision is appended at the revision it was made on, so
// a duplicate delivery or a second dispatch of a running step is refused.
package step

import (
	"buildledger/domain/domainerr"
	"buildledger/domain/status"
	"buildledger/events"
)

// Phase is where a step stands.
type Phase int

// The phases of a step.
const (
	// Unknown means no StepQueued was recorded.
	Unknown Phase = iota
	// Queued means the step waits for a machine (maybe until RetryAt).
	Queued
	// Dispatched means a machine was chosen; the lease runs until
	// LeaseUntil.
	Dispatched
	// Running means the builder reported StepStarted.
	Running
	// Succeeded means the last attempt built the outputs (status 0 or 6).
	Succeeded
	// Failed means the last attempt failed and no retry is scheduled.
	Failed
)

// String returns the phase's name.
func (p Phase) String() string {
	switch p {
	case Queued:
		return "queued"
	case Dispatched:
		return "dispatched"
	case Running:
		return "running"
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Reasons of StepRetryScheduled the scheduler writes. A requeue for a
// restarted build starts the count of transient failures afresh.
// ReasonLost gives up an attempt whose worker died with the queue runner
// that dispatched it, and ReasonUnsent one whose command the bus refused,
// before the attempt's lease ends: no worker will take either.
const (
	ReasonRetry   = "transient failure"
	ReasonLease   = "lease expired"
	ReasonRestart = "build restarted"
	ReasonLost    = "dispatched by a queue runner that stopped"
	ReasonUnsent  = "its command was not sent"
)

// State is a step as its stream tells it.
type State struct {
	Phase   Phase
	DrvPath string
	System  string
	// Attempt is the number of the last dispatched attempt (1-based).
	Attempt int
	// Tries counts attempts that ended in a transient failure since the
	// step was last queued fresh; Hydra retries while Tries < maxTries.
	Tries      int
	Machine    string
	BuildID    int64
	LeaseUntil int64
	RetryAt    int64
	// Status is the status of the last finished attempt.
	Status int
}

// Evolve folds one event of the step's stream into s. Payloads are
// pointers, as the codec decodes them; other event types leave s unchanged.
func Evolve(s State, p events.Payload) State {
	switch e := p.(type) {
	case *events.StepQueued:
		s.DrvPath, s.System = e.DrvPath, e.System
		if s.Phase == Unknown || s.Phase == Succeeded {
			// A step queued again after success lost its outputs.
			s.Phase, s.Tries, s.RetryAt = Queued, 0, 0
		}
	case *events.StepDispatched:
		s.Phase, s.Attempt, s.Machine, s.BuildID, s.LeaseUntil = Dispatched, e.Attempt, e.Machine, e.BuildID, e.LeaseUntil
	case *events.StepStarted:
		s.Phase, s.Machine = Running, e.Machine
	case *events.StepFinished:
		s.Status = e.Status
		switch c := status.Code(e.Status); {
		case c == status.Success || c == status.FailedWithOutput:
			s.Phase = Succeeded
		default:
			s.Phase = Failed
			if c.IsTransient() {
				s.Tries++
			}
		}
	case *events.StepRetryScheduled:
		s.Phase, s.RetryAt = Queued, e.RetryAt
		if e.Reason == ReasonRestart {
			s.Tries = 0
		}
	}
	return s
}

// Runs reports whether attempt is the step's current attempt and running:
// a builder running any other attempt must stop.
func (s State) Runs(attempt int) bool { return s.Phase == Running && s.Attempt == attempt }

// RecordLog decides StepLogStored e whatever the phase: an attempt ended
// elsewhere while it ran still wrote its log, which is kept.
func RecordLog(_ State, e *events.StepLogStored) ([]events.Payload, error) {
	return []events.Payload{e}, nil
}

// Dispatch decides StepDispatched for d: allowed for a queued step whose
// retry time has come (at d.Timestamp) or a dispatched step whose lease
// expired, and only for the next attempt number. Anything else (a running
// or finished step, a stale attempt) is refused with ErrConflict.
func Dispatch(s State, d *events.StepDispatched) ([]events.Payload, error) {
	switch {
	case s.Phase == Unknown:
		return nil, domainerr.NotFound("step", d.DrvPath)
	case s.Phase == Dispatched && s.LeaseUntil > d.Timestamp:
		return nil, domainerr.Conflict("step %s is already dispatched to %s (attempt %d)", d.DrvPath, s.Machine, s.Attempt)
	case s.Phase != Queued && s.Phase != Dispatched:
		return nil, domainerr.Conflict("step %s is %s, not queued", d.DrvPath, s.Phase)
	case d.Attempt != s.Attempt+1:
		return nil, domainerr.Conflict("step %s: attempt %d, want %d", d.DrvPath, d.Attempt, s.Attempt+1)
	}
	return []events.Payload{d}, nil
}

// Start decides StepStarted for the attempt the builder was given: only
// while that attempt is dispatched. A duplicate delivery (the step already
// started or finished) or a stale attempt is refused with ErrConflict.
func Start(s State, e *events.StepStarted) ([]events.Payload, error) {
	if s.Phase != Dispatched || s.Attempt != e.Attempt {
		return nil, domainerr.Conflict("step %s attempt %d cannot start: %s at attempt %d", e.DrvPath, e.Attempt, s.Phase, s.Attempt)
	}
	return []events.Payload{e}, nil
}

// Finish decides StepFinished for an attempt that is dispatched or
// running. A second finish or a stale attempt is refused with ErrConflict.
func Finish(s State, e *events.StepFinished) ([]events.Payload, error) {
	if (s.Phase != Dispatched && s.Phase != Running) || s.Attempt != e.Attempt {
		return nil, domainerr.Conflict("step %s attempt %d cannot finish: %s at attempt %d", e.DrvPath, e.Attempt, s.Phase, s.Attempt)
	}
	return []events.Payload{e}, nil
}

// Requeue decides StepRetryScheduled for the current attempt r.Attempt:
// after a failure (a transient one being retried, or any failure when a
// build is restarted); for a dispatched attempt whose lease expired at now
// without a start, whose queue runner stopped (ReasonLost: only its own
// workers could have taken the command) or whose command was not sent
// (ReasonUnsent); and for a running attempt the
// caller gave up on (its builder stayed silent past the step's timeout).
// Once requeued, a late StepStarted or StepFinished of the old attempt is
// refused, so a command the bus delivers again builds nothing.
func Requeue(s State, r *events.StepRetryScheduled, now int64) ([]events.Payload, error) {
	switch {
	case s.Attempt != r.Attempt:
		return nil, domainerr.Conflict("step %s: attempt %d, current %d", r.DrvPath, r.Attempt, s.Attempt)
	case s.Phase == Failed:
	case s.Phase == Dispatched && (s.LeaseUntil <= now || r.Reason == ReasonLost || r.Reason == ReasonUnsent):
	case s.Phase == Running:
	default:
		return nil, domainerr.Conflict("step %s is %s, cannot be requeued", r.DrvPath, s.Phase)
	}
	return []events.Payload{r}, nil
}

// Abort decides StepFinished for a step that never got a machine: the
// scheduler gives up on a queued step (status 9 when no machine supports
// it). e.Attempt must be the current attempt; a step that is dispatched,
// running or finished is refused with ErrConflict.
func Abort(s State, e *events.StepFinished) ([]events.Payload, error) {
	if s.Phase != Queued || s.Attempt != e.Attempt {
		return nil, domainerr.Conflict("step %s attempt %d cannot be aborted: %s at attempt %d", e.DrvPath, e.Attempt, s.Phase, s.Attempt)
	}
	return []events.Payload{e}, nil
}
