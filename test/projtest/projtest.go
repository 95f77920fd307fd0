// Package projtest is the set-up projection tests share: an empty
// Postgres log written through the real adapter, the codec, the read-model
// database, and runners over it.
package projtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/events"
	"buildledger/projections"
)

// Env is one test's log and read models, in a database of its own.
type Env struct {
	Pool  *pgxpool.Pool
	Store *pglog.Store
	Codec *events.Codec
	DB    *postgres.ReadModelDB
}

// New returns an Env on a fresh database (pgtest.NewPool).
func New(tb testing.TB) *Env {
	tb.Helper()
	pool := pgtest.NewPool(tb)
	return &Env{Pool: pool, Store: pglog.New(pool, pglog.Options{}), Codec: events.NewCodec(), DB: postgres.NewReadModelDB(pool)}
}

// Append encodes payloads with md and appends them to stream, whatever
// its revision.
func (e *Env) Append(tb testing.TB, stream string, md events.Metadata, payloads ...events.Payload) events.AppendResult {
	tb.Helper()
	evs := make([]events.Event, len(payloads))
	for i, p := range payloads {
		ev, err := e.Codec.Encode(p, md, time.Now())
		require.NoError(tb, err)
		evs[i] = ev
	}
	res, err := e.Store.Append(context.Background(), stream, events.Any, evs...)
	require.NoError(tb, err)
	return res
}

// Runner returns a runner of ps over the Env's log and database.
func (e *Env) Runner(tb testing.TB, opts projections.RunnerOptions, ps ...projections.Projection) *projections.Runner {
	tb.Helper()
	r, err := projections.NewRunner(e.Store, e.Codec, e.DB, ps, opts)
	require.NoError(tb, err)
	return r
}

// CatchUp runs ps over the whole log with default options.
func (e *Env) CatchUp(tb testing.TB, ps ...projections.Projection) {
	tb.Helper()
	_, err := e.Runner(tb, projections.RunnerOptions{}, ps...).CatchUp(context.Background())
	require.NoError(tb, err)
}
