package commands_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/domain/password"
	"buildledger/events"
	"buildledger/events/memstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fixedNow is the time of the test clock.
var fixedNow = time.Unix(1700000000, 0)

// newRuntime returns a runtime over a fresh log in memory: the tests of
// the commands' rules need no database.
func newRuntime(t *testing.T, opts commands.Options) (*commands.Runtime, events.Store) {
	t.Helper()
	store := memstore.New()
	return commands.NewRuntime(store, events.NewCodec(), testOptions(opts)), store
}

// newRuntimeVault returns a runtime over a fresh Postgres log, and the
// database's vault, for the commands that keep users' secrets there.
func newRuntimeVault(t *testing.T, opts commands.Options) (*commands.Runtime, events.Store, *postgres.Vault) {
	t.Helper()
	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	return commands.NewRuntime(store, events.NewCodec(), testOptions(opts)), store, postgres.NewVault(pool)
}

// testOptions gives opts the test clock and host unless set.
func testOptions(opts commands.Options) commands.Options {
	if opts.Clock == nil {
		opts.Clock = commands.ClockFunc(func() time.Time { return fixedNow })
	}
	if opts.Host == "" {
		opts.Host = "testhost"
	}
	return opts
}

func md(actor string) events.Metadata {
	return events.Metadata{Actor: actor, CorrelationID: "corr-" + actor, CausationID: "cause-" + actor}
}

// withAlice returns handlers over a fresh Postgres log (opts as for
// newRuntimeVault) in which the administrator has created the user
// alice, whom the tests make a project owner, and the administrator's
// metadata.
func withAlice(t *testing.T, opts commands.Options) (*commands.Runtime, events.Store, *commands.Handlers, events.Metadata) {
	t.Helper()
	rt, store, vault := newRuntimeVault(t, opts)
	h := commands.NewHandlers(rt, commands.NewAllocator(rt, commands.AllocatorOptions{}), vault)
	admin := md(commands.UserActor("admin"))
	hash, err := password.Hash("s3cret", fastHash)
	require.NoError(t, err)
	_, err = h.CreateUser(context.Background(), admin, commands.CreateUser{UserName: "alice", EmailAddress: "alice@example.org", PasswordHash: hash})
	require.NoError(t, err)
	return rt, store, h, admin
}
