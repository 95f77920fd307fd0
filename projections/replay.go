package projections

import (
	"context"
	"errors"
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

// OptionalIndexDeferrer is implemented by an IndexDeferrer some of whose
// deferrable indexes a schema may lack, such as an index that needs an
// extension the database does not have: a replay defers those it finds.
type OptionalIndexDeferrer interface {
	// OptionalIndexes names those indexes, as DeferrableIndexes does;
	// they are not among DeferrableIndexes.
	OptionalIndexes() []string
}

// ErrNoIndex is wrapped by IndexBuilder.DropIndexes for a name the
// schema has no index of.
var ErrNoIndex = errors.New("no index")

// IndexBuilder is implemented by Schemas that can drop indexes of a
// schema and build them again.
type IndexBuilder interface {
	// DropIndexes drops the named indexes of schema and returns the
	// statements that create them again.
	DropIndexes(ctx context.Context, schema string, names []string) ([]string, error)
	// CreateIndexes runs statements returned by DropIndexes.
	CreateIndexes(ctx context.Context, defs []string) error
}

// ForeignKeyDeferrer is implemented by a projection some of whose
// read-model foreign keys only guard its rows, never serve its statements:
// a replay loads its fresh schema without them, sparing a trigger check
// per row written, and adds them back once it no longer can do without.
// Rows a key would have refused are then removed as the key's ON DELETE
// action would have removed them, which is what the live projection, whose
// writes rely on the keys, gets by dropping them.
type ForeignKeyDeferrer interface {
	// DeferrableForeignKeys names those constraints (lowercase, as
	// Postgres keeps them). They are added back together, so the rows a
	// missing grandparent takes along go with it, whatever the order.
	DeferrableForeignKeys() []string
	// NeedsForeignKeys tells whether applying ev relies on the keys, such
	// as a delete cascading through them: the replay adds them back
	// before the batch holding ev.
	NeedsForeignKeys(ev Event) bool
}

// TriggerDeferrer is implemented by a projection some of whose read-model
// triggers keep rows that one statement can also count afresh from the
// tables they follow: a replay loads its fresh schema with them disabled,
// sparing their work on every statement (on every row, for those with
// transition tables), and then has that statement write what they would
// have.
type TriggerDeferrer interface {
	// DeferredTriggers returns the statements that disable the triggers,
	// and those that enable them again and count their rows afresh. Both
	// run in the schema being built (its DB), the first before any event
	// is applied and the second after the keys and indexes are back.
	DeferredTriggers() (disable, restore []string)
}

// ForeignKey is a foreign key dropped by a ForeignKeyBuilder, with what
// adds it back.
type ForeignKey struct {
	// Name is the constraint's name.
	Name string
	// Table is the table the constraint is on, as the statements name it.
	Table string
	// Add is the statement that adds the constraint back NOT VALID: it
	// holds for rows written (and cascades) from then on, without a check
	// of the rows already there, which Validate makes.
	Add, Validate string
	// Orphans is the statement that removes the rows the constraint
	// refuses, as its ON DELETE action does (deletes them, or sets their
	// columns null); empty when that action keeps them (NO ACTION,
	// RESTRICT), and adding it back then fails on them.
	Orphans string
}

// ForeignKeyBuilder is implemented by Schemas that can drop foreign keys
// of a schema and add them back.
type ForeignKeyBuilder interface {
	// DropForeignKeys drops the named foreign keys of schema and returns
	// them in the order of names.
	DropForeignKeys(ctx context.Context, schema string, names []string) ([]ForeignKey, error)
	// AddForeignKeys adds back keys returned by DropForeignKeys. A key
	// that rows refuse is added once its Orphans statement has removed
	// them, and with it the rows a cascade of the other keys takes along.
	// It also runs indexes, statements returned by
	// IndexBuilder.DropIndexes, while it checks the keys' rows.
	AddForeignKeys(ctx context.Context, keys []ForeignKey, indexes []string) error
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
	keys, err := deferForeignKeys(ctx, schemas, opts.Target, ps)
	if err != nil {
		return res, err
	}
	restoreTriggers, err := deferTriggers(ctx, db, ps)
	if err != nil {
		return res, fmt.Errorf("replay into %s: %w", opts.Target, err)
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = ReplayBatchSize
	}
	r, err := NewRunner(store, codec, db, ps, RunnerOptions{BatchSize: opts.BatchSize, Until: opts.Until, OnBatch: opts.OnBatch,
		BeforeBatch: keys.beforeBatch})
	if err != nil {
		return res, err
	}
	if res.Applied, err = r.CatchUp(ctx); err != nil {
		return res, fmt.Errorf("replay into %s: %w", opts.Target, err)
	}
	// The keys are checked while the indexes build.
	switch {
	case len(keys.dropped) > 0:
		err = keys.restore(ctx, deferred)
	case len(deferred) > 0:
		err = schemas.(IndexBuilder).CreateIndexes(ctx, deferred)
	}
	if err == nil {
		err = execAll(ctx, db, restoreTriggers)
	}
	if err != nil {
		return res, fmt.Errorf("replay into %s: %w", opts.Target, err)
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
	var names, optional []string
	for _, p := range ps {
		if d, ok := p.(IndexDeferrer); ok {
			names = append(names, d.DeferrableIndexes()...)
		}
		if d, ok := p.(OptionalIndexDeferrer); ok {
			optional = append(optional, d.OptionalIndexes()...)
		}
	}
	var defs []string
	if len(names) > 0 {
		var err error
		if defs, err = b.DropIndexes(ctx, target, names); err != nil {
			return nil, fmt.Errorf("replay into %s: %w", target, err)
		}
	}
	for _, n := range optional {
		def, err := b.DropIndexes(ctx, target, []string{n})
		switch {
		case errors.Is(err, ErrNoIndex):
		case err != nil:
			return nil, fmt.Errorf("replay into %s: %w", target, err)
		default:
			defs = append(defs, def...)
		}
	}
	return defs, nil
}

// deferTriggers disables the triggers the projections can do without
// while they catch up, and returns the statements that restore them.
func deferTriggers(ctx context.Context, db DB, ps []Projection) ([]string, error) {
	var disable, restore []string
	for _, p := range ps {
		if d, ok := p.(TriggerDeferrer); ok {
			off, on := d.DeferredTriggers()
			disable, restore = append(disable, off...), append(restore, on...)
		}
	}
	if err := execAll(ctx, db, disable); err != nil {
		return nil, err
	}
	return restore, nil
}

// execAll runs stmts in one transaction of db.
func execAll(ctx context.Context, db DB, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	return db.InTx(ctx, func(tx Tx) error {
		for _, st := range stmts {
			if err := tx.Exec(ctx, st); err != nil {
				return fmt.Errorf("%.60s: %w", st, err)
			}
		}
		return nil
	})
}

// deferredKeys are the foreign keys a replay loads its schema without.
type deferredKeys struct {
	builder   ForeignKeyBuilder
	deferrers []ForeignKeyDeferrer
	// dropped holds the keys not added back yet.
	dropped []ForeignKey
}

// deferForeignKeys drops the foreign keys the projections can do without
// while they catch up, when schemas can add them back.
func deferForeignKeys(ctx context.Context, schemas Schemas, target string, ps []Projection) (*deferredKeys, error) {
	d := &deferredKeys{}
	b, ok := schemas.(ForeignKeyBuilder)
	if !ok {
		return d, nil
	}
	var names []string
	for _, p := range ps {
		if fd, ok := p.(ForeignKeyDeferrer); ok {
			d.deferrers = append(d.deferrers, fd)
			names = append(names, fd.DeferrableForeignKeys()...)
		}
	}
	if len(names) == 0 {
		return d, nil
	}
	dropped, err := b.DropForeignKeys(ctx, target, names)
	if err != nil {
		return nil, fmt.Errorf("replay into %s: %w", target, err)
	}
	d.builder, d.dropped = b, dropped
	return d, nil
}

// beforeBatch adds the keys back before a batch holding an event that
// needs them.
func (d *deferredKeys) beforeBatch(ctx context.Context, batch []Event) error {
	if len(d.dropped) == 0 {
		return nil
	}
	for _, ev := range batch {
		for _, fd := range d.deferrers {
			if fd.NeedsForeignKeys(ev) {
				return d.restore(ctx, nil)
			}
		}
	}
	return nil
}

// restore adds back the keys still dropped, and runs indexes while it
// checks them.
func (d *deferredKeys) restore(ctx context.Context, indexes []string) error {
	if len(d.dropped) == 0 {
		return nil
	}
	if err := d.builder.AddForeignKeys(ctx, d.dropped, indexes); err != nil {
		return err
	}
	d.dropped = nil
	return nil
}
