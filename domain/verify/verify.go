// Package verify holds the rules of reproducibility rebuilds: which
// derivations a jobset's verifyFraction samples, and the life of a
// verification on its stream (dispatched, then ended once per attempt).
package verify

import (
	"crypto/sha256"
	"encoding/binary"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// Sampled reports whether the derivation drvPath is in the sample of a
// jobset with verification fraction f. The sample is deterministic: a
// derivation's place in [0, 1) is the first 8 bytes of the SHA-256 of its
// path, so a replay, a restart and every scheduler pick the same
// derivations, and a fraction of 1 picks all.
func Sampled(drvPath string, f float64) bool {
	if f <= 0 {
		return false
	}
	if f >= 1 {
		return true
	}
	sum := sha256.Sum256([]byte(drvPath))
	return float64(binary.BigEndian.Uint64(sum[:8]))/(1<<64) < f
}

// MaxAttempts is how many times a verification is dispatched before the
// scheduler gives it up (lost leases, failed sends).
const MaxAttempts = 3

// State is a verification stream folded.
type State struct {
	// Attempt is the last dispatched attempt, 0 before the first.
	Attempt int
	// Open: the attempt was dispatched and has not ended.
	Open bool
}

// Evolve folds one event.
func Evolve(s State, p events.Payload) State {
	switch e := p.(type) {
	case *events.VerificationDispatched:
		s.Attempt, s.Open = e.Attempt, true
	case *events.VerificationEnded:
		if e.Attempt == s.Attempt {
			s.Open = false
		}
	}
	return s
}

// Dispatch decides the scheduler's d: the next attempt, at most
// MaxAttempts. A dispatch whose attempt is not the next one (a decision
// made twice) is refused.
func Dispatch(s State, d *events.VerificationDispatched) ([]events.Payload, error) {
	switch {
	case d.Attempt != s.Attempt+1:
		return nil, domainerr.Conflict("verification of %s: attempt %d is not the next (%d)", d.DrvPath, d.Attempt, s.Attempt+1)
	case d.Attempt > MaxAttempts:
		return nil, domainerr.Conflict("verification of %s: given up after %d attempts", d.DrvPath, MaxAttempts)
	case d.Machine == "" || len(d.Outputs) == 0:
		return nil, domainerr.Invalid("verification", "a verification names its machine and outputs")
	}
	return []events.Payload{d}, nil
}

// End decides a builder's outcome of attempt end.Attempt: the results
// and the end, refused unless that attempt is the open one (a duplicate
// delivery, or an attempt the scheduler gave up and dispatched again).
func End(s State, results []events.OutputVerified, end *events.VerificationEnded) ([]events.Payload, error) {
	if !s.Open || s.Attempt != end.Attempt {
		return nil, domainerr.Conflict("verification of %s: attempt %d is not open", end.DrvPath, end.Attempt)
	}
	out := make([]events.Payload, 0, len(results)+1)
	for i := range results {
		out = append(out, &results[i])
	}
	return append(out, end), nil
}
