package evaluation

import (
	"buildledger/commands"
	"buildledger/domain/jobset"
	"buildledger/events"
)

// Outcomes recorded in EvaluationClosed.
const (
	OutcomeFinished = "finished"
	OutcomeCached   = "cached"
	OutcomeFailed   = "failed"
)

// Jobset is a jobset with its evaluation history, folded from its stream:
// the configuration (jobset.State) plus what the evaluator needs to know.
type Jobset struct {
	jobset.State
	// Open is the evaluation in progress, nil when none.
	Open *events.EvaluationOpened
	// LastEval is the latest finished evaluation (Hydra's newest
	// JobsetEvals row), with its inputs hash, locked flake and size.
	LastEval     int64
	LastHash     string
	LastFlake    string
	LastNrBuilds int
	// LastWithNewBuilds is the latest finished evaluation that had new
	// builds: the one whose builds a new evaluation may reuse.
	LastWithNewBuilds int64
	// LastChecked is the Unix time the latest evaluation, or check the
	// log records, ended (Hydra's lastCheckedTime), 0 if never. Checks
	// that found the inputs unchanged are mostly kept out of the log (see
	// Service.check): Checks knows about those.
	LastChecked int64
	// LastOutcome is the outcome of the latest evaluation or recorded
	// check.
	LastOutcome string
	// TriggerTime is the time of a pending request (Hydra's triggerTime),
	// 0 if none; Force is set when a pending request forces evaluation.
	TriggerTime int64
	Force       bool
}

// JobsetAggregate folds a jobset stream into a Jobset. Jobset streams
// grow with every evaluation and request, so it takes snapshots.
var JobsetAggregate = commands.Aggregate[Jobset]{Name: "jobset", EvolveAt: EvolveJobset, SnapshotKey: "evaluation.jobset.v1"}

// EvolveJobset folds one event of a jobset stream recorded at pos into s.
func EvolveJobset(s Jobset, p events.Payload, pos events.Position) Jobset {
	switch e := p.(type) {
	case events.EvaluationRequested:
		p = &e
	case events.EvaluationOpened:
		p = &e
	case events.EvaluationClosed:
		p = &e
	case events.EvaluationCached:
		p = &e
	case events.JobsetCreated:
		p = &e
	}
	switch e := p.(type) {
	case *events.EvaluationRequested:
		s.TriggerTime = e.At
		s.Force = s.Force || e.Force
	case *events.EvaluationOpened:
		o := *e
		s.Open = &o
	case *events.EvaluationClosed:
		s.closed(e)
	case *events.EvaluationCached:
		// A check on the jobset's stream, without an evaluation of its
		// own (older logs put EvaluationCached on eval streams only).
		s.LastChecked, s.LastOutcome = e.Timestamp, OutcomeCached
		if s.TriggerTime != 0 && s.TriggerTime <= e.StartTime {
			s.TriggerTime, s.Force = 0, false
		}
	case *events.JobsetCreated:
		if e.RenamedFrom == "" {
			// A new incarnation starts without history.
			s = Jobset{}
		}
	}
	s.State = jobset.EvolveAt(s.State, p, pos)
	return s
}

func (s *Jobset) closed(e *events.EvaluationClosed) {
	start := int64(0)
	if s.Open != nil && s.Open.EvalID == e.EvalID {
		start = s.Open.StartTime
		s.Open = nil
	}
	s.LastChecked, s.LastOutcome = e.Timestamp, e.Outcome
	if s.TriggerTime != 0 && s.TriggerTime <= start {
		s.TriggerTime = 0
	}
	switch e.Outcome {
	case OutcomeFinished:
		s.LastEval, s.LastHash, s.LastFlake, s.LastNrBuilds = e.EvalID, e.Hash, e.Flake, e.NrBuilds
		if e.HasNewBuilds {
			s.LastWithNewBuilds = e.EvalID
		}
		s.Force = false
	case OutcomeCached:
		if s.TriggerTime == 0 {
			s.Force = false
		}
	}
}
