package esdb_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/esdb"
	"buildledger/adapters/eventstore/esdb/esdbtest"
	"buildledger/events"
	"buildledger/events/storetest"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// open starts a fresh double and opens a store on it.
func open(t testing.TB, opts esdb.Options) (*esdb.Store, *esdbtest.Server) {
	t.Helper()
	srv := esdbtest.Start(t, esdbtest.Options{})
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	s, err := esdb.Open(testCtx(t), srv.ConnString(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, srv
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) events.Store {
		s, _ := open(t, esdb.Options{})
		return s
	}, storetest.Options{PerStreamIDs: true})
}

// TestContractRealServer runs the contract against the server of
// BUILDLEDGER_ESDB_URL, each subtest in its own namespace.
func TestContractRealServer(t *testing.T) {
	url := os.Getenv("BUILDLEDGER_ESDB_URL")
	if url == "" {
		t.Skip("BUILDLEDGER_ESDB_URL not set; see README.md to run a real EventStoreDB")
	}
	storetest.Run(t, func(t *testing.T) events.Store {
		var b [6]byte
		_, _ = rand.Read(b[:])
		s, err := esdb.Open(testCtx(t), url, esdb.Options{Namespace: "t" + hex.EncodeToString(b[:]) + "-", Logger: quiet()})
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}, storetest.Options{PerStreamIDs: true})
}
