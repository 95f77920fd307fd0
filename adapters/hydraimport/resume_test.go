package hydraimport_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/hydraimport"
	"buildledger/adapters/postgres"
	"buildledger/commands"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

// errKilled is what an interrupted import's appends fail with.
var errKilled = errors.New("killed")

// killingLog is the event store of an import killed at its kill-th
// multi-stream append: before the append commits, or just after.
type killingLog struct {
	hydraimport.Log
	kill, n int
	after   bool
	cancel  context.CancelFunc
}

func (l *killingLog) AppendMulti(ctx context.Context, appends []events.StreamAppend) ([]events.AppendResult, error) {
	l.n++
	if l.n != l.kill {
		return l.Log.AppendMulti(ctx, appends)
	}
	l.cancel()
	if l.after {
		if _, err := l.Log.AppendMulti(context.WithoutCancel(ctx), appends); err != nil {
			return nil, err
		}
	}
	return nil, errKilled
}

// vaultKilledAtPassword is a vault whose process dies when it is to store
// a password: the user's UserCreated is recorded, the hash is not.
type vaultKilledAtPassword struct{ *postgres.Vault }

func (vaultKilledAtPassword) SetPassword(context.Context, string, string) error { return errKilled }

// dump is what an import leaves: its events (stream, revision, type and
// source: users' event ids are random) and, after a replay, every
// compared column of Hydra's tables, and who has a password.
func dump(t *testing.T, l ledger) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	evs, err := l.store.ReadAll(ctx, events.Start, 0)
	require.NoError(t, err)
	for _, ev := range evs {
		out["events"] = append(out["events"], fmt.Sprintf("%s@%d %s %s", ev.Stream, ev.Revision, ev.Type, ev.Metadata.Source))
	}
	_, err = projections.Replay(ctx, l.store, events.NewCodec(), postgres.NewSchemas(l.pool),
		[]projections.Projection{hydra.Projection{Keys: l.vault}}, projections.ReplayOptions{Target: "imported"})
	require.NoError(t, err)
	for table, cols := range roundTrip {
		out[table] = rowsOf(t, l.pool, postgres.ReadModelSchema+"."+table, cols)
	}
	out["credentials"] = rowsOf(t, l.pool, "vault.credentials", "user_name, password_hash")
	return out
}

func importAll(t *testing.T, src *pgxpool.Pool, log hydraimport.Log, users hydraimport.Users) (hydraimport.Stats, error) {
	t.Helper()
	return hydraimport.New(src, log, users, hydraimport.Options{ChunkBuilds: 2}).Run(context.Background())
}

// TestResume kills an import at every one of its appends, before and
// after the append commits, and once while a user's password is being
// stored, and runs it again: it finishes with the events, the read models
// and the passwords of an import never interrupted, nothing twice.
func TestResume(t *testing.T) {
	ref := newLedger(t)
	src := hydraDB(t, ref.pool)
	_, err := src.Exec(context.Background(), realistic)
	require.NoError(t, err)
	counting := &killingLog{Log: ref.store, cancel: func() {}}
	_, err = importAll(t, src, counting, ref.h)
	require.NoError(t, err)
	want := dump(t, ref)
	appends := counting.n
	require.Greater(t, appends, 5, "the import appends in several batches")

	check := func(t *testing.T, l ledger) {
		st, err := importAll(t, src, l.store, l.h)
		require.NoError(t, err, "the import resumes")
		got := dump(t, l)
		require.Equal(t, want, got)
		again, err := importAll(t, src, l.store, l.h)
		require.NoError(t, err)
		require.Zero(t, again.Appended, "a finished import appends nothing more (resumed run appended %d)", st.Appended)
	}
	for kill := 1; kill <= appends; kill++ {
		for _, after := range []bool{false, true} {
			t.Run(fmt.Sprintf("append %d, killed %s commit", kill, map[bool]string{false: "before", true: "after"}[after]), func(t *testing.T) {
				l := newLedger(t)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				_, err := hydraimport.New(src, &killingLog{Log: l.store, kill: kill, after: after, cancel: cancel}, l.h,
					hydraimport.Options{ChunkBuilds: 2}).Run(ctx)
				require.ErrorIs(t, err, errKilled)
				check(t, l)
			})
		}
	}
	t.Run("killed between a user's creation and their password", func(t *testing.T) {
		l := newLedger(t)
		rt := commands.NewRuntime(l.store, events.NewCodec(), commands.Options{Host: "importer"})
		dying := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), vaultKilledAtPassword{l.vault})
		_, err := importAll(t, src, l.store, dying)
		require.ErrorIs(t, err, errKilled)
		require.Empty(t, rowsOf(t, l.pool, "vault.credentials", "user_name"), "the first user has no password yet")
		check(t, l)
	})
}
