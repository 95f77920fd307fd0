package projections

import "context"

// Promoter is implemented by a projection that builds its tables under
// versioned names and publishes them under stable names (views) only once
// it has caught up with the log: a blue/green rebuild. Readers keep seeing
// the previous version's tables until then. The runner calls Promote, in a
// transaction of its own, each time it has caught up with the head of the
// log (CatchUp, or Run when idle), until it succeeds once; Promote must be
// idempotent.
type Promoter interface {
	Promote(ctx context.Context, tx Tx) error
}
