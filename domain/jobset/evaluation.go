package jobset

import (
	"fmt"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// Outcomes recorded in EvaluationClosed.
const (
	OutcomeFinished = "finished"
	OutcomeCached   = "cached"
	OutcomeFailed   = "failed"
)

// ErrEvaluating refuses to open an evaluation, or record a check, of a
// jobset that has one open.
var ErrEvaluating = fmt.Errorf("%w: an evaluation of the jobset is already running", domainerr.ErrConflict)

// ErrConfigChanged refuses to open an evaluation whose inputs were
// fetched for a configuration the jobset no longer has: fetch again.
var ErrConfigChanged = fmt.Errorf("%w: the jobset's configuration changed during the fetch", domainerr.ErrConflict)

// ErrInputsUnchanged refuses to open an evaluation of inputs the last
// evaluation had already evaluated: one that finished while these were
// fetched. The check is then a cached one.
var ErrInputsUnchanged = fmt.Errorf("%w: an evaluation of the same inputs finished during the fetch", domainerr.ErrConflict)

// Unchanged reports whether inputs with hash (empty when their fetch
// failed) are those the last evaluation of s evaluated, so that a check
// without force evaluates nothing (Hydra's cached evaluation).
func Unchanged(s State, hash string, force bool) bool {
	return hash != "" && !force && !s.Force && s.LastEval != 0 && hash == s.LastHash
}

// Evaluations is a jobset's evaluation history as its stream tells it:
// what the evaluator needs to know.
type Evaluations struct {
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
	// CheckChangesLog).
	LastChecked int64
	// LastOutcome is the outcome of the latest evaluation or recorded
	// check.
	LastOutcome string
	// TriggerTime is the time of a pending request (Hydra's triggerTime),
	// 0 if none; Force is set when a pending request forces evaluation.
	TriggerTime int64
	Force       bool
}

// evolve folds the evaluation events of the jobset's stream.
func (s Evaluations) evolve(p events.Payload) Evaluations {
	switch e := p.(type) {
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
	}
	return s
}

func (s *Evaluations) closed(e *events.EvaluationClosed) {
	start := int64(0)
	if s.Open != nil && s.Open.EvalID == e.EvalID {
		start = s.Open.StartTime
		s.Open = nil
	}
	s.LastChecked, s.LastOutcome = e.Timestamp, e.Outcome
	// An interrupted evaluation did not serve the request: it stays
	// pending, so the next evaluator evaluates again, as Hydra's
	// triggertime survives an evaluator that died.
	if s.TriggerTime != 0 && s.TriggerTime <= start && !e.Interrupted {
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

// CheckChangesLog reports whether a check that finds the inputs unchanged
// changes what the jobset's events say: a request is pending, or the
// latest evaluation failed. Other checks stay out of the log, which is
// never trimmed while a jobset is polled every few minutes.
func (s Evaluations) CheckChangesLog() bool {
	return s.TriggerTime != 0 || s.Force || s.LastOutcome == OutcomeFailed
}

// MayEvaluate checks that an evaluation of s may open: the jobset exists
// and has none open (ErrEvaluating).
func MayEvaluate(s State) error {
	if !s.Exists {
		return domainerr.NotFound("jobset", s.Project+":"+s.Name)
	}
	if s.Open != nil {
		return fmt.Errorf("jobset %s:%s (eval %d): %w", s.Project, s.Name, s.Open.EvalID, ErrEvaluating)
	}
	return nil
}

// OpenEvaluation opens evaluation EvalID of the jobset, whose inputs were
// fetched for jobset ID with configuration Config.
type OpenEvaluation struct {
	EvalID    int64
	ID        int64
	Config    events.JobsetConfig
	Host      string
	StartTime int64
	// Force evaluates even if the inputs did not change; a pending
	// forced request forces it too.
	Force bool
	// Hash is the hash of the fetched inputs; empty when their fetch
	// failed (the evaluation then records the failure).
	Hash string
}

// Open decides EvaluationOpened for c: refused while one is open
// (ErrEvaluating), when the jobset is no longer the one the inputs were
// fetched for (ErrConfigChanged), and when an evaluation of the same
// inputs finished meanwhile (ErrInputsUnchanged).
func Open(s State, c OpenEvaluation) ([]events.Payload, error) {
	if err := MayEvaluate(s); err != nil {
		return nil, err
	}
	if s.ID != c.ID || !EqualConfig(s.Config, c.Config) {
		return nil, ErrConfigChanged
	}
	if Unchanged(s, c.Hash, c.Force) {
		return nil, ErrInputsUnchanged
	}
	return []events.Payload{&events.EvaluationOpened{EvalID: c.EvalID, Project: s.Project, Jobset: s.Name,
		Host: c.Host, StartTime: c.StartTime, Forced: c.Force || s.Force}}, nil
}

// Close decides the end of the evaluation the evaluator ran: c, and for
// a one-shot jobset whose evaluation finished, the JobsetUpdated that
// disables it.
func Close(s State, c *events.EvaluationClosed) ([]events.Payload, error) {
	ps := []events.Payload{c}
	if c.Outcome == OutcomeFinished && s.Exists && s.Config.Enabled == OneShot {
		cfg := s.Config
		cfg.Enabled = Disabled
		ps = append(ps, &events.JobsetUpdated{Project: s.Project, Name: s.Name, JobsetConfig: cfg})
	}
	return ps, nil
}

// CloseInterrupted decides c for an evaluation an evaluator left open:
// only while it is still the open one, else nothing.
func CloseInterrupted(s State, c *events.EvaluationClosed) ([]events.Payload, error) {
	if s.Open == nil || s.Open.EvalID != c.EvalID {
		return nil, nil
	}
	return []events.Payload{c}, nil
}

// RecordCheck records a check of jobset ID that found its inputs (Hash)
// those of evaluation LastEval, the jobset's latest when the check began.
type RecordCheck struct {
	ID        int64
	LastEval  int64
	Hash      string
	StartTime int64
	Timestamp int64
}

// Check decides EvaluationCached for c when it changes what the log
// says (CheckChangesLog) and no evaluation or check ended meanwhile,
// which said more; nothing otherwise. A check of a jobset that is gone
// is not found, one while an evaluation is open ErrEvaluating.
func Check(s State, c RecordCheck) ([]events.Payload, error) {
	switch {
	case !s.Exists || s.ID != c.ID:
		return nil, domainerr.NotFound("jobset", s.Project+":"+s.Name)
	case s.Open != nil:
		return nil, fmt.Errorf("jobset %s:%s (eval %d): %w", s.Project, s.Name, s.Open.EvalID, ErrEvaluating)
	case s.LastEval != c.LastEval || !s.CheckChangesLog():
		return nil, nil
	}
	return []events.Payload{&events.EvaluationCached{Project: s.Project, Jobset: s.Name, EvalID: c.LastEval,
		Hash: c.Hash, Timestamp: c.Timestamp, StartTime: c.StartTime}}, nil
}
