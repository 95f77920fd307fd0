package commands

import (
	"context"
	"fmt"

	"buildledger/domain/streams"
	"buildledger/domain/verify"
	"buildledger/events"
)

// verifyAggregate folds verify-<hash> streams.
var verifyAggregate = Aggregate[verify.State]{Name: "verification", Evolve: verify.Evolve}

// DispatchVerification records the scheduler's decision to rebuild a
// derivation to check its reproducibility. It is refused
// (domainerr.ErrConflict) when d.Attempt is not the next attempt or the
// verification was given up.
func (h *Handlers) DispatchVerification(ctx context.Context, md events.Metadata, d events.VerificationDispatched) (Result, error) {
	if d.DrvPath == "" {
		return Result{}, fmt.Errorf("dispatch verification: empty derivation path")
	}
	return Execute(ctx, h.rt, streams.Verify(d.DrvPath), verifyAggregate,
		func(s verify.State) ([]events.Payload, error) { return verify.Dispatch(s, &d) }, md)
}

// EndVerification records a builder's outcome of a verification attempt,
// in one append: an OutputVerified per output rebuilt, then end. An
// attempt that is not the open one is refused (domainerr.ErrConflict).
func (h *Handlers) EndVerification(ctx context.Context, md events.Metadata, results []events.OutputVerified, end events.VerificationEnded) (Result, error) {
	if end.DrvPath == "" {
		return Result{}, fmt.Errorf("end verification: empty derivation path")
	}
	return Execute(ctx, h.rt, streams.Verify(end.DrvPath), verifyAggregate,
		func(s verify.State) ([]events.Payload, error) { return verify.End(s, results, &end) }, md)
}
