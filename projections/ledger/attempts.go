package ledger

import (
	"time"

	"buildledger/events"
)

// The bits of attemptChainRow.Set: the columns an attempt's chain sets
// on a row already there. attemptChain's SQL tests them by value (1, 2,
// 4, … 256), and so must change with them.
const (
	setBuild = 1 << iota
	setStepNr
	setMachine
	setStatus
	setBusy
	setDispatch // dispatched_at, lease_until
	setResult   // stop_time, exit_code, error_msg, times_built, is_non_deterministic, overhead
	setLog
	setRetry
)

// What a chain does to start_time of a row already there
// (attemptChainRow.Sm; 0, 1 and 2 in attemptChain's SQL).
const (
	startKept = iota
	startSet
	startUnlessNull
)

// attempt collects an event on one attempt at a step. From the batch's
// first upsert of the attempt on (dispatched, started or finished), its
// events are folded into one row (attemptChain) that makes what they
// would have made one statement at a time, of nothing or of the row
// already there: a new row version for an attempt per batch instead of
// four or five. A log or a retry recorded before that upsert changes a
// row already there, or nothing, and is sent on its own.
func (w *writes) attempt(drv string, attempt int, at time.Time, p events.Payload) {
	key := attemptKey(drv, attempt)
	c := w.chains[key]
	if c == nil {
		switch p := p.(type) {
		case *events.StepLogStored:
			w.rounds.Add(attemptLogStored, logRow{drv, attempt, p.Location, p.Size, p.SHA256}, key)
			return
		case *events.StepRetryScheduled:
			w.rounds.Add(attemptRetry, retryRow{drv, attempt, time.Unix(p.RetryAt, 0).UTC(), p.Reason}, key)
			return
		}
		if w.chains == nil {
			w.chains = map[string]*attemptChainRow{}
		}
		c = &attemptChainRow{D: drv, A: attempt}
		c.insert(at, p)
		w.chains[key] = c
		w.begun = append(w.begun, key)
	}
	c.update(at, p)
}

// insert sets the values the upsert p inserts.
func (c *attemptChainRow) insert(at time.Time, p events.Payload) {
	switch p := p.(type) {
	case *events.StepDispatched:
		lease := time.Unix(p.LeaseUntil, 0).UTC()
		c.B, c.M, c.Bu, c.Dt, c.L = &p.BuildID, p.Machine, 1, &at, &lease
	case *events.StepStarted:
		c.B, c.N, c.M, c.Bu, c.S0 = &p.BuildID, &p.StepNr, p.Machine, 30, &p.StartTime
	case *events.StepFinished:
		c.B, c.N, c.M, c.Bu, c.S0 = &p.BuildID, &p.StepNr, p.Machine, 0, &p.StartTime
	}
}

// update applies what p sets on a row already there, to the values and
// to what the chain sets.
func (c *attemptChainRow) update(at time.Time, p events.Payload) {
	switch p := p.(type) {
	case *events.StepDispatched:
		lease := time.Unix(p.LeaseUntil, 0).UTC()
		c.M, c.Dt, c.L = p.Machine, &at, &lease
		c.Set |= setMachine | setDispatch
	case *events.StepStarted:
		c.B, c.N, c.M, c.Bu, c.S0 = &p.BuildID, &p.StepNr, p.Machine, 30, &p.StartTime
		c.Set |= setBuild | setStepNr | setMachine | setBusy
		c.Sm = startSet
	case *events.StepLogStored:
		c.Ll, c.Lz, c.Lh = &p.Location, &p.Size, &p.SHA256
		c.Set |= setLog
	case *events.StepFinished:
		c.St, c.Bu, c.S1, c.E, c.Em, c.Tb, c.Nd, c.O = &p.Status, 0, &p.StopTime, &p.ExitCode, &p.ErrorMsg, &p.TimesBuilt,
			&p.IsNonDeterministic, &p.Overhead
		if c.S0 == nil {
			c.S0 = &p.StartTime
		}
		c.Set |= setStatus | setBusy | setResult
		if c.Sm == startKept {
			c.Sm = startUnlessNull
		}
	case *events.StepRetryScheduled:
		retry := time.Unix(p.RetryAt, 0).UTC()
		c.Rt, c.Rr = &retry, &p.Reason
		c.Set |= setRetry
	}
}
