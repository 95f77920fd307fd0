package projections_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections"
)

// counting is a projection that only counts what it is given.
func counting(name string, seen *int) projections.PerEvent {
	return projections.PerEvent{ProjectionName: name, ProjectionVersion: 1,
		Handle: func(context.Context, projections.Tx, projections.Event) error { *seen++; return nil }}
}

// TestCheckpointsOfSeveralProjections: projections starting from
// different checkpoints each get the events after their own, and every
// checkpoint ends at the head with the count of events it applied.
func TestCheckpointsOfSeveralProjections(t *testing.T) {
	for _, batch := range []int{1, 3, 100} {
		t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) {
			ctx := context.Background()
			pool := pgtest.NewPool(t)
			store := pglog.New(pool, pglog.Options{})
			codec := events.NewCodec()
			appendN := func(n int) {
				for i := 0; i < n; i++ {
					ev, err := codec.Encode(events.BuildBumped{BuildID: int64(i), GlobalPriority: 1}, events.Metadata{Actor: "component:test"}, time.Now())
					require.NoError(t, err)
					_, err = store.Append(ctx, fmt.Sprintf("build-%d", i), events.Any, ev)
					require.NoError(t, err)
				}
			}
			db := postgres.NewReadModelDB(pool)
			var early, late int
			appendN(4)
			r, err := projections.NewRunner(store, codec, db, []projections.Projection{counting("early", &early)}, projections.RunnerOptions{BatchSize: batch})
			require.NoError(t, err)
			_, err = r.CatchUp(ctx)
			require.NoError(t, err)

			appendN(5)
			ps := []projections.Projection{counting("early", &early), counting("late", &late)}
			r, err = projections.NewRunner(store, codec, db, ps, projections.RunnerOptions{BatchSize: batch})
			require.NoError(t, err)
			_, err = r.CatchUp(ctx)
			require.NoError(t, err)
			require.Equal(t, []int{9, 9}, []int{early, late})

			cps, err := projections.Checkpoints(ctx, db, ps)
			require.NoError(t, err)
			require.Equal(t, map[string]events.Position{"early": events.At(9), "late": events.At(9)}, cps)
			var applied []int64
			rows, err := pool.Query(ctx, `select events_applied from projection_checkpoints where name in ('early.v1', 'late.v1') order by name`)
			require.NoError(t, err)
			for rows.Next() {
				var n int64
				require.NoError(t, rows.Scan(&n))
				applied = append(applied, n)
			}
			require.NoError(t, rows.Err())
			require.Equal(t, []int64{9, 9}, applied)
		})
	}
}

// typed is a counting projection that handles only some event types.
type typed struct {
	projections.PerEvent
	types []string
}

func (p typed) EventTypes() []string { return p.types }

// TestTypedProjections: a projection declaring its event types gets only
// those; events no projection handles are neither read nor decoded (one
// the codec does not know is not even noticed); checkpoints still reach
// the head.
func TestTypedProjections(t *testing.T) {
	bumped, kept := events.BuildBumped{}.EventType(), events.BuildKept{}.EventType()
	for _, tc := range []struct {
		name         string
		bumps, keeps []string // types of the two projections; nil: untyped
		wantBumps    int
		wantKeeps    int
		wantSkipped  int64
		wantRead     int64 // events read from the log
		until        uint64
		wantAt       uint64 // where the checkpoints end; 0: 6, the head
	}{
		{name: "both typed", bumps: []string{bumped}, keeps: []string{kept}, wantBumps: 3, wantKeeps: 2, wantRead: 5},
		{name: "one untyped", bumps: []string{bumped}, wantBumps: 3, wantKeeps: 5, wantSkipped: 1, wantRead: 6},
		{name: "nothing handled", bumps: []string{"Nothing"}, keeps: []string{"Nothing"}},
		{name: "until", bumps: []string{bumped}, keeps: []string{kept}, until: 3, wantBumps: 2, wantKeeps: 1, wantRead: 3, wantAt: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pool := pgtest.NewPool(t)
			store := pglog.New(pool, pglog.Options{})
			codec := events.NewCodec()
			add := appender(t, store, codec)
			for i := 0; i < 3; i++ {
				add(events.BuildBumped{BuildID: 1, GlobalPriority: i})
				if i < 2 {
					add(events.BuildKept{BuildID: 1, Keep: true})
				}
			}
			// An event of a type no typed projection handles, and that
			// the codec does not know.
			ev, err := codec.Encode(events.BuildBumped{BuildID: 1}, events.Metadata{Actor: "component:test"}, time.Now())
			require.NoError(t, err)
			ev.Type = "Unknown"
			_, err = store.Append(ctx, "build-1", events.Any, ev)
			require.NoError(t, err)

			var seenBumps, seenKeeps int
			var bumps, keeps projections.Projection = counting("bumps", &seenBumps), counting("keeps", &seenKeeps)
			if tc.bumps != nil {
				bumps = typed{PerEvent: counting("bumps", &seenBumps), types: tc.bumps}
			}
			if tc.keeps != nil {
				keeps = typed{PerEvent: counting("keeps", &seenKeeps), types: tc.keeps}
			}
			ps := []projections.Projection{bumps, keeps}
			db := postgres.NewReadModelDB(pool)
			r, err := projections.NewRunner(store, codec, db, ps, projections.RunnerOptions{BatchSize: 2, Until: events.At(tc.until)})
			require.NoError(t, err)
			n, err := r.CatchUp(ctx)
			require.NoError(t, err)
			require.Equal(t, tc.wantRead, n)
			require.Equal(t, []int{tc.wantBumps, tc.wantKeeps}, []int{seenBumps, seenKeeps})
			require.Equal(t, tc.wantSkipped, r.Stats().Skipped)
			cps, err := projections.Checkpoints(ctx, db, ps)
			require.NoError(t, err)
			at := events.At(6)
			if tc.wantAt != 0 {
				at = events.At(tc.wantAt)
			}
			require.Equal(t, map[string]events.Position{"bumps": at, "keeps": at}, cps)
		})
	}
}

// TestTypedProjectionCatchesUpPastEmptyReads: a filtered read looks at a
// window of the log at a time; windows without any event of the
// projection's types must not stop the catch-up, nor must a read-ahead
// that found nothing.
func TestTypedProjectionCatchesUpPastEmptyReads(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	codec := events.NewCodec()
	add := appender(t, store, codec)
	for i := 0; i < 20; i++ {
		add(events.BuildBumped{BuildID: 1, GlobalPriority: i})
	}
	add(events.BuildKept{BuildID: 1, Keep: true})
	var seen int
	ps := []projections.Projection{typed{PerEvent: counting("keeps", &seen), types: []string{events.BuildKept{}.EventType()}}}
	db := postgres.NewReadModelDB(pool)
	r, err := projections.NewRunner(store, codec, db, ps, projections.RunnerOptions{BatchSize: 1})
	require.NoError(t, err)
	n, err := r.CatchUp(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Equal(t, 1, seen)
	cps, err := projections.Checkpoints(ctx, db, ps)
	require.NoError(t, err)
	require.Equal(t, map[string]events.Position{"keeps": events.At(21)}, cps)

	// An event appended after the catch-up is found by the next one, even
	// though the runner read ahead (and found nothing) meanwhile.
	add(events.BuildKept{BuildID: 1})
	n, err = r.CatchUp(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.Equal(t, 2, seen)
}

// appender returns a function that appends one event to stream build-1.
func appender(t *testing.T, store events.Store, codec *events.Codec) func(events.Payload) {
	return func(p events.Payload) {
		ev, err := codec.Encode(p, events.Metadata{Actor: "component:test"}, time.Now())
		require.NoError(t, err)
		_, err = store.Append(context.Background(), "build-1", events.Any, ev)
		require.NoError(t, err)
	}
}

// TestRunnerBehindTakesLargerBatches: a runner that reads full batches
// doubles them up to MaxBatchSize, and goes back to BatchSize once it has
// caught up.
func TestRunnerBehindTakesLargerBatches(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	codec := events.NewCodec()
	appendN := func(n int) {
		evs := make([]events.Event, n)
		for i := range evs {
			ev, err := codec.Encode(events.BuildBumped{BuildID: int64(i), GlobalPriority: 1}, events.Metadata{Actor: "component:test"}, time.Now())
			require.NoError(t, err)
			evs[i] = ev
		}
		_, err := store.Append(ctx, "build-1", events.Any, evs...)
		require.NoError(t, err)
	}
	var seen int
	var sizes []int
	r, err := projections.NewRunner(store, codec, postgres.NewReadModelDB(pool), []projections.Projection{counting("c", &seen)},
		projections.RunnerOptions{BatchSize: 2, MaxBatchSize: 8, OnBatch: func(p projections.Progress) { sizes = append(sizes, p.Events) }})
	require.NoError(t, err)
	appendN(27)
	_, err = r.CatchUp(ctx)
	require.NoError(t, err)
	appendN(3)
	_, err = r.CatchUp(ctx)
	require.NoError(t, err)
	require.Equal(t, []int{2, 4, 8, 8, 5, 2, 1}, sizes)
	require.Equal(t, 30, seen)
}

// metadataTelling is a projection that records the actor of each event
// it is given and tells whether it reads the events' metadata.
type metadataTelling struct {
	projections.PerEvent
	uses bool
}

func (p metadataTelling) UsesMetadata() bool { return p.uses }

// TestRunnerReadsMetadataOnlyWhenUsed: the log is read without the
// events' metadata only when every projection tells it reads none.
func TestRunnerReadsMetadataOnlyWhenUsed(t *testing.T) {
	const actor = "component:test"
	for _, tc := range []struct {
		name       string
		uses       []*bool // per projection; nil: it does not tell
		wantActors string
	}{
		{name: "none reads it", uses: []*bool{new(false), new(false)}, wantActors: ""},
		{name: "one reads it", uses: []*bool{new(false), new(true)}, wantActors: actor},
		{name: "one does not tell", uses: []*bool{new(false), nil}, wantActors: actor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pool := pgtest.NewPool(t)
			store := pglog.New(pool, pglog.Options{})
			codec := events.NewCodec()
			appender(t, store, codec)(events.BuildBumped{BuildID: 1, GlobalPriority: 1})
			actors := make([]string, len(tc.uses))
			var ps []projections.Projection
			for i, uses := range tc.uses {
				p := projections.PerEvent{ProjectionName: fmt.Sprintf("p%d", i), ProjectionVersion: 1,
					Handle: func(_ context.Context, _ projections.Tx, ev projections.Event) error {
						actors[i] = ev.Metadata.Actor
						return nil
					}}
				if uses == nil {
					ps = append(ps, p)
				} else {
					ps = append(ps, metadataTelling{PerEvent: p, uses: *uses})
				}
			}
			r, err := projections.NewRunner(store, codec, postgres.NewReadModelDB(pool), ps, projections.RunnerOptions{})
			require.NoError(t, err)
			_, err = r.CatchUp(ctx)
			require.NoError(t, err)
			for i := range actors {
				require.Equal(t, tc.wantActors, actors[i], "projection %d", i)
			}
		})
	}
}

// TestRunnerStopsAtFutureVersion: during a rolling upgrade a newer writer
// appends an event of a version this binary does not know. The runner
// applies what comes before it, stops there with ErrVersionSkew, and
// never moves its checkpoint past it, however often it is run again.
func TestRunnerStopsAtFutureVersion(t *testing.T) {
	for _, batch := range []int{1, 100} {
		t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) {
			ctx := context.Background()
			pool := pgtest.NewPool(t)
			store := pglog.New(pool, pglog.Options{})
			codec := events.NewCodec()
			add := func(i int, future bool) {
				ev, err := codec.Encode(events.BuildBumped{BuildID: int64(i), GlobalPriority: 1}, events.Metadata{Actor: "component:test"}, time.Now())
				require.NoError(t, err)
				if future {
					ev.Version++
				}
				_, err = store.Append(ctx, fmt.Sprintf("build-%d", i), events.Any, ev)
				require.NoError(t, err)
			}
			for i := range 5 {
				add(i, i == 3)
			}
			db := postgres.NewReadModelDB(pool)
			var seen int
			ps := []projections.Projection{counting("p", &seen)}
			for range 2 {
				r, err := projections.NewRunner(store, codec, db, ps, projections.RunnerOptions{BatchSize: batch})
				require.NoError(t, err)
				_, err = r.CatchUp(ctx)
				require.ErrorIs(t, err, projections.ErrVersionSkew)
				require.ErrorIs(t, err, events.ErrFutureVersion)
				cps, err := projections.Checkpoints(ctx, db, ps)
				require.NoError(t, err)
				require.Equal(t, events.At(3), cps["p"], "stopped before the event at position 4")
			}
			require.Equal(t, 3, seen)
		})
	}
}
