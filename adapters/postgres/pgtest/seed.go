package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LogColumns are the columns of ledger.events that SeedLog's rows hold, in
// order.
var LogColumns = []string{"position", "stream", "revision", "id", "type", "version", "data", "metadata", "recorded_at"}

// SeedLog writes n events, as the superuser who owns the log, straight into ledger.events with COPY, for
// benchmarks that need a log larger than appends would write in their
// time. row(i) returns the LogColumns of the event at position i+1. The
// head and the streams' revisions are then set as appends would have left
// them, and the log is settled (SettleLog).
func SeedLog(tb testing.TB, pool *pgxpool.Pool, n int, row func(i int) []any) {
	tb.Helper()
	ctx := context.Background()
	pool = asAdmin(tb, pool)
	rows := make([][]any, 0, 10_000)
	flush := func() {
		if _, err := pool.CopyFrom(ctx, pgx.Identifier{"ledger", "events"}, LogColumns, pgx.CopyFromRows(rows)); err != nil {
			tb.Fatalf("pgtest: seed the log: %v", err)
		}
		rows = rows[:0]
	}
	for i := 0; i < n; i++ {
		rows = append(rows, row(i))
		if len(rows) == cap(rows) {
			flush()
		}
	}
	if len(rows) > 0 {
		flush()
	}
	for _, stmt := range []string{
		`update ledger.counter set position = (select coalesce(max(position), 0) from ledger.events)`,
		`insert into ledger.streams (stream, revision) select stream, max(revision) from ledger.events group by stream`,
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			tb.Fatalf("pgtest: seed the log: %s: %v", stmt, err)
		}
	}
	SettleLog(tb, pool)
}

// SettleLog vacuums and analyzes ledger.events, as autovacuum has long
// done to the history of a running ledger. A benchmark reading a log it
// has just written otherwise pays on its first read for marking every
// fresh row committed (and writing those pages again), and autovacuum's
// own pass over a million fresh rows lands amid its timings.
func SettleLog(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	if _, err := asAdmin(tb, pool).Exec(context.Background(), `vacuum (analyze) ledger.events`); err != nil {
		tb.Fatalf("pgtest: settle the log: %v", err)
	}
}

// asAdmin returns a pool on the database of pool as the server's
// superuser, closed when the test ends: the log belongs to the superuser,
// and only it may write the tables directly or vacuum them.
func asAdmin(tb testing.TB, pool *pgxpool.Pool) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(AdminURL(tb, pool.Config().ConnString()))
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	admin, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(admin.Close)
	return admin
}

// Rewrite runs sql on the database of pool as the superuser with the
// log's append-only trigger off (session_replication_role = replica):
// what only an attacker who is the superuser can do, for tests of the
// hash chain, and for fixtures that pin when events were recorded.
func Rewrite(tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) pgconn.CommandTag {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, AdminURL(tb, pool.Config().ConnString()))
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	var tag pgconn.CommandTag
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `set local session_replication_role = replica`); err != nil {
			return err
		}
		tag, err = tx.Exec(ctx, sql, args...)
		return err
	})
	if err != nil {
		tb.Fatalf("pgtest: rewrite the log: %s: %v", sql, err)
	}
	return tag
}
