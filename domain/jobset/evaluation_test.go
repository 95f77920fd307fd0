package jobset

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/domain/domaintest"
	"buildledger/events"
)

func fold(s State, ps ...events.Payload) State {
	for _, p := range ps {
		s = Evolve(s, p)
	}
	return s
}

// TestEvolveEvaluations: the jobset's one fold keeps its evaluation
// history: requests, the open evaluation, outcomes; a rename keeps it, a
// new incarnation starts without.
func TestEvolveEvaluations(t *testing.T) {
	s := fold(created("j", 7, legacy(), 2),
		&events.EvaluationRequested{Project: "p", Jobset: "j", At: 10, Force: true},
		&events.EvaluationOpened{EvalID: 1, StartTime: 11})
	require.Equal(t, int64(10), s.TriggerTime)
	require.True(t, s.Force)
	require.Equal(t, int64(1), s.Open.EvalID)
	s = fold(s, &events.EvaluationClosed{EvalID: 1, Outcome: OutcomeFinished, Hash: "h", NrBuilds: 3, HasNewBuilds: true, Timestamp: 12})
	require.Nil(t, s.Open)
	require.Equal(t, Evaluations{LastEval: 1, LastHash: "h", LastNrBuilds: 3, LastWithNewBuilds: 1, LastChecked: 12, LastOutcome: OutcomeFinished}, s.Evaluations)
	require.Equal(t, int64(10), s.LastRequest)

	renamed := fold(State{}, &events.JobsetCreated{Project: "p", Name: "k", ID: 7, RenamedFrom: "j"})
	require.Zero(t, renamed.LastEval, "a new stream has no history")
	deleted := fold(s, &events.JobsetDeleted{Project: "p", Name: "j"})
	require.Equal(t, s.Evaluations, deleted.Evaluations)
	back := fold(deleted, &events.JobsetCreated{Project: "p", Name: "j", ID: 7, RenamedFrom: "k"})
	require.Equal(t, s.Evaluations, back.Evaluations, "a rename back keeps the stream's history")
	again := fold(deleted, &events.JobsetCreated{Project: "p", Name: "j", ID: 8})
	require.Equal(t, Evaluations{}, again.Evaluations, "a new incarnation starts afresh")
}

// TestInterruptedKeepsRequest: an evaluation closed because its evaluator
// was killed did not serve the request that opened it, which stays
// pending (Due); one that failed on its own, or finished, served it.
func TestInterruptedKeepsRequest(t *testing.T) {
	requested := fold(created("j", 7, legacy(), 2),
		&events.EvaluationRequested{Project: "p", Jobset: "j", At: 10},
		&events.EvaluationOpened{EvalID: 1, StartTime: 11})
	tests := []struct {
		name    string
		closed  events.EvaluationClosed
		pending int64
	}{
		{"interrupted", events.EvaluationClosed{EvalID: 1, Outcome: OutcomeFailed, Interrupted: true, Timestamp: 12}, 10},
		{"failed", events.EvaluationClosed{EvalID: 1, Outcome: OutcomeFailed, Timestamp: 12}, 0},
		{"finished", events.EvaluationClosed{EvalID: 1, Outcome: OutcomeFinished, Timestamp: 12}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fold(requested, &tt.closed)
			require.Nil(t, s.Open)
			require.Equal(t, tt.pending, s.TriggerTime)
		})
	}
}

func TestOpen(t *testing.T) {
	idle := fold(created("j", 7, legacy(), 2), &events.EvaluationRequested{At: 5, Force: true})
	open := fold(idle, &events.EvaluationOpened{EvalID: 1})
	c := OpenEvaluation{EvalID: 2, ID: 7, Config: sorted(legacy()), Host: "h", StartTime: 9}
	other := c
	other.Config = with(func(c *events.JobsetConfig) { c.Description = "changed" })
	domaintest.Decide(t, Open, []domaintest.Case[State, OpenEvaluation]{
		{Name: "open", State: idle, Cmd: c,
			Want: []events.Payload{&events.EvaluationOpened{EvalID: 2, Project: "p", Jobset: "j", Host: "h", StartTime: 9, Forced: true}}},
		{Name: "missing", State: State{}, Cmd: c, Err: domainerr.ErrNotFound},
		{Name: "one open", State: open, Cmd: c, Err: ErrEvaluating},
		{Name: "one open is a conflict", State: open, Cmd: c, Err: domainerr.ErrConflict},
		{Name: "configuration changed", State: idle, Cmd: other, Err: ErrConfigChanged},
	})
}

func TestClose(t *testing.T) {
	oneShot := fold(created("j", 7, with(func(c *events.JobsetConfig) { c.Enabled = OneShot }), 2), &events.EvaluationOpened{EvalID: 1})
	finished := &events.EvaluationClosed{EvalID: 1, Project: "p", Jobset: "j", Outcome: OutcomeFinished}
	failed := &events.EvaluationClosed{EvalID: 1, Project: "p", Jobset: "j", Outcome: OutcomeFailed}
	off := oneShot.Config
	off.Enabled = Disabled
	domaintest.Decide(t, Close, []domaintest.Case[State, *events.EvaluationClosed]{
		{Name: "one-shot finished", State: oneShot, Cmd: finished,
			Want: []events.Payload{finished, &events.JobsetUpdated{Project: "p", Name: "j", JobsetConfig: off}}},
		{Name: "one-shot failed", State: oneShot, Cmd: failed, Want: []events.Payload{failed}},
	})
	domaintest.Decide(t, CloseInterrupted, []domaintest.Case[State, *events.EvaluationClosed]{
		{Name: "still open", State: oneShot, Cmd: failed, Want: []events.Payload{failed}},
		{Name: "closed meanwhile", State: fold(oneShot, finished), Cmd: failed},
	})
}

func TestCheck(t *testing.T) {
	evaluated := fold(created("j", 7, legacy(), 2), &events.EvaluationOpened{EvalID: 1},
		&events.EvaluationClosed{EvalID: 1, Outcome: OutcomeFinished, Hash: "h"})
	requested := fold(evaluated, &events.EvaluationRequested{At: 20})
	c := RecordCheck{ID: 7, LastEval: 1, Hash: "h", StartTime: 21, Timestamp: 22}
	domaintest.Decide(t, Check, []domaintest.Case[State, RecordCheck]{
		{Name: "answers a request", State: requested, Cmd: c,
			Want: []events.Payload{&events.EvaluationCached{Project: "p", Jobset: "j", EvalID: 1, Hash: "h", Timestamp: 22, StartTime: 21}}},
		{Name: "says nothing new", State: evaluated, Cmd: c},
		{Name: "an evaluation ended meanwhile", State: fold(requested, &events.EvaluationOpened{EvalID: 2},
			&events.EvaluationClosed{EvalID: 2, Outcome: OutcomeFinished}), Cmd: c},
		{Name: "one open", State: fold(requested, &events.EvaluationOpened{EvalID: 2}), Cmd: c, Err: ErrEvaluating},
		{Name: "another incarnation", State: requested, Cmd: RecordCheck{ID: 8, LastEval: 1}, Err: domainerr.ErrNotFound},
	})
	require.False(t, fold(requested, &events.EvaluationCached{StartTime: 21}).CheckChangesLog(), "the check answered the request")
}

// TestOpenRefusesUnchangedInputs: an evaluation of inputs the last
// evaluation (finished while they were fetched) already evaluated is not
// opened, unless forced; a failed fetch (no hash) always opens.
func TestOpenRefusesUnchangedInputs(t *testing.T) {
	s := State{Exists: true, ID: 1, Project: "p", Name: "j"}
	s.LastEval, s.LastHash = 4, "h1"
	for _, tt := range []struct {
		name  string
		hash  string
		force bool
		err   error
	}{
		{"same inputs", "h1", false, ErrInputsUnchanged},
		{"same inputs, forced", "h1", true, nil},
		{"new inputs", "h2", false, nil},
		{"failed fetch", "", false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(s, OpenEvaluation{EvalID: 5, ID: 1, Config: s.Config, Hash: tt.hash, Force: tt.force})
			require.ErrorIs(t, err, tt.err)
		})
	}
}
