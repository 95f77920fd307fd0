package commands_test

import (
	"os"
	"testing"
	"time"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/events"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixedNow is the time of the test clock.
var fixedNow = time.Unix(1700000000, 0)

// newRuntime returns a runtime over a fresh Postgres log.
func newRuntime(t *testing.T, opts commands.Options) (*commands.Runtime, events.Store) {
	t.Helper()
	rt, store, _ := newRuntimeVault(t, opts)
	return rt, store
}

// newRuntimeVault is newRuntime with the database's vault.
func newRuntimeVault(t *testing.T, opts commands.Options) (*commands.Runtime, events.Store, *postgres.Vault) {
	t.Helper()
	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	if opts.Clock == nil {
		opts.Clock = commands.ClockFunc(func() time.Time { return fixedNow })
	}
	if opts.Host == "" {
		opts.Host = "testhost"
	}
	return commands.NewRuntime(store, events.NewCodec(), opts), store, postgres.NewVault(pool)
}

func md(actor string) events.Metadata {
	return events.Metadata{Actor: actor, CorrelationID: "corr-" + actor, CausationID: "cause-" + actor}
}
