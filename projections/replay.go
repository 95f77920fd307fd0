package projections

import (
	"context"
	"fmt"

	"buildledger/events"
)

// Schemas manages read-model schemas for replays.
type Schemas interface {
	// Create makes a fresh schema holding every read-model table and
	// returns a DB writing into it, and a function that releases the DB.
	Create(ctx context.Context, name string) (DB, func(), error)
	// Swap makes schema name the live read models and returns the name the
	// previous live schema was kept under.
	Swap(ctx context.Context, name string) (backup string, err error)
	// Drop removes a schema.
	Drop(ctx context.Context, name string) error
}

// IndexDeferrer is implemented by a projection some of whose read-model
// indexes serve only readers, never its own statements: a replay loads its
// fresh schema without them and builds them once, after the catch-up,
// which is much cheaper than keeping them up to date row by row.
type IndexDeferrer interface {
	// DeferrableIndexes names those indexes (lowercase, as Postgres keeps
	// them). None may back a constraint.
	DeferrableIndexes() []string
}

// IndexBuilder is implemented by Schemas that can drop indexes of a
// schema and build them again.
type IndexBuilder interface {
	// DropIndexes drops the named indexes of schema and returns the
	// statements that create them again.
	DropIndexes(ctx context.Context, schema string, names []string) ([]string, error)
	// CreateIndexes runs statements returned by DropIndexes.
	CreateIndexes(ctx context.Context, defs []string) error
}

// ReplayBatchSize is the default batch of a replay, and of an analyst
// projection's rebuild: larger than a live runner's, since nothing waits
// for a batch to commit, each statement writes more rows, and projections
// write more of their rows once (a build queued and finished in the same
// batch is written finished). At 1,000,000 events it took the analytics
// rebuild from 53,000 (batches of 5,000) to 109,000 events/s.
const ReplayBatchSize = 50_000

// ReplayOptions describes a replay.
type ReplayOptions struct {
	// Target is the schema to build.
	Target string
	// Until, if not Start, builds the ledger as it was at that position and
	// leaves the live read models alone; otherwise the replay runs to the
	// head and is swapped in.
	Until events.Position
	// BatchSize as in RunnerOptions; default ReplayBatchSize.
	BatchSize int
	// OnBatch reports progress.
	OnBatch func(Progress)
}

// ReplayResult tells what a replay did.
type ReplayResult struct {
	Target   string
	Applied  int64
	Position events.Position
	// Swapped is true when Target became the live read models; Backup then
	// names the schema the old ones were kept under.
	Swapped bool
	Backup  string
}

// Replay rebuilds projections from position 0 into a fresh schema. A
// replay to the head is swapped in atomically; a replay --until is left in
// its schema for inspection. On failure the half-built schema is dropped
// and the live read models are untouched.
func Replay(ctx context.Context, store events.Store, codec *events.Codec, schemas Schemas, ps []Projection, opts ReplayOptions) (ReplayResult, error) {
	res := ReplayResult{Target: opts.Target}
	db, release, err := schemas.Create(ctx, opts.Target)
	if err != nil {
		return res, err
	}
	ok := false
	defer func() {
		release()
		if !ok {
			_ = schemas.Drop(context.WithoutCancel(ctx), opts.Target)
		}
	}()
	deferred, err := deferIndexes(ctx, schemas, opts.Target, ps)
	if err != nil {
		return res, err
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = ReplayBatchSize
	}
	r, err := NewRunner(store, codec, db, ps, RunnerOptions{BatchSize: opts.BatchSize, Until: opts.Until, OnBatch: opts.OnBatch})
	if err != nil {
		return res, err
	}
	if res.Applied, err = r.CatchUp(ctx); err != nil {
		return res, fmt.Errorf("replay into %s: %w", opts.Target, err)
	}
	if len(deferred) > 0 {
		if err := schemas.(IndexBuilder).CreateIndexes(ctx, deferred); err != nil {
			return res, fmt.Errorf("replay into %s: %w", opts.Target, err)
		}
	}
	res.Position = r.Stats().Position
	if opts.Until.IsStart() {
		release()
		release = func() {}
		if res.Backup, err = schemas.Swap(ctx, opts.Target); err != nil {
			return res, err
		}
		res.Swapped = true
	}
	ok = true
	return res, nil
}

// deferIndexes drops the indexes the projections can do without while
// they catch up, when schemas can build them again, and returns the
// statements that do.
func deferIndexes(ctx context.Context, schemas Schemas, target string, ps []Projection) ([]string, error) {
	b, ok := schemas.(IndexBuilder)
	if !ok {
		return nil, nil
	}
	var names []string
	for _, p := range ps {
		if d, ok := p.(IndexDeferrer); ok {
			names = append(names, d.DeferrableIndexes()...)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	defs, err := b.DropIndexes(ctx, target, names)
	if err != nil {
		return nil, fmt.Errorf("replay into %s: %w", target, err)
	}
	return defs, nil
}
