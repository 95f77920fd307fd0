package esdb_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/esdb"
	"buildledger/adapters/eventstore/esdb/esdbtest"
	"buildledger/events"
	"buildledger/events/storetest"
)

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestOpenMalformed(t *testing.T) {
	tests := []struct {
		conn, want string
	}{
		{"", "empty"},
		{"http://localhost:2113", "scheme must be esdb://"},
		{"esdb://localhost:2113?tls=false&bogus=1", `unknown setting "bogus"`},
		{"esdb://localhost:2113?tls=maybe", "tls"},
		{"esdb://localhost:2113?defaultDeadline=soon", "defaultDeadline"},
		{"esdb://localhost:notaport?tls=false", "port"},
		{"esdb://localhost:2113/path?tls=false", "path"},
		{"esdb://h1:2113,,h3:2113?tls=false", "empty host"},
		{"esdb://:secret@localhost:2113", "empty username"},
		{"esdb://localhost:2113?nodePreference=closest", "NodePreference"},
		{"esdb://localhost:2113?tlsCAFile=/nonexistent/ca.pem", "ca.pem"},
	}
	for _, tc := range tests {
		t.Run(tc.conn, func(t *testing.T) {
			_, err := esdb.Open(context.Background(), tc.conn, esdb.Options{Logger: quiet()})
			require.Error(t, err)
			require.Contains(t, err.Error(), "connection string")
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "secret")
		})
	}
}

func TestOpenUnreachable(t *testing.T) {
	addr := freeAddr(t)
	start := time.Now()
	_, err := esdb.Open(context.Background(), "esdb://"+addr+"?tls=false&maxDiscoverAttempts=3", esdb.Options{Logger: quiet()})
	require.Error(t, err)
	require.Contains(t, err.Error(), "cannot reach "+addr)
	require.Less(t, time.Since(start), 5*time.Second)

	// A server that never answers (accepts, then says nothing) hits the
	// bounded connect timeout.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start = time.Now()
	_, err = esdb.Open(context.Background(), "esdb://"+l.Addr().String()+"?tls=false", esdb.Options{ConnectTimeout: 500 * time.Millisecond, Logger: quiet()})
	require.Error(t, err)
	require.Contains(t, err.Error(), "no answer within 500ms")
	require.Less(t, time.Since(start), 3*time.Second)
}

func TestOpenTLSAndCredentials(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{TLS: true})
	srv.SetCredentials("admin", "changeit")
	ctx := testCtx(t)
	base := func(userinfo string) string {
		return fmt.Sprintf("esdb://%s%s?tlsCAFile=%s", userinfo, srv.Addr(), srv.CAFile())
	}

	s, err := esdb.Open(ctx, base("admin:changeit@"), esdb.Options{Logger: quiet()})
	require.NoError(t, err)
	_, err = s.Append(ctx, "tls-1", events.NoStream, storetest.Ev("T", 1))
	require.NoError(t, err)
	got, err := s.ReadStream(ctx, "tls-1", 0, 0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	s.Close()

	_, err = esdb.Open(ctx, base("admin:wrong@"), esdb.Options{Logger: quiet()})
	require.ErrorContains(t, err, `authentication failed for user "admin": wrong credentials`)
	require.NotContains(t, err.Error(), "wrong@")
	_, err = esdb.Open(ctx, base(""), esdb.Options{Logger: quiet()})
	require.ErrorContains(t, err, "authentication required")

	// TLS without trusting the server's certificate, and plain text
	// against a TLS server.
	_, err = esdb.Open(ctx, "esdb://admin:changeit@"+srv.Addr()+"?maxDiscoverAttempts=2", esdb.Options{Logger: quiet()})
	require.ErrorContains(t, err, "cannot reach")
	require.ErrorContains(t, err, "certificate")
	_, err = esdb.Open(ctx, "esdb://"+srv.Addr()+"?tls=false&maxDiscoverAttempts=2", esdb.Options{Logger: quiet(), ConnectTimeout: 3 * time.Second})
	require.Error(t, err)
}

// TestClusterConnectionStrings: several gossip seeds and DNS discovery
// make the client read gossip first; the double names itself leader.
func TestClusterConnectionStrings(t *testing.T) {
	srv := esdbtest.Start(t, esdbtest.Options{})
	ctx := testCtx(t)
	dead := freeAddr(t)
	for _, conn := range []string{
		"esdb://" + srv.Addr() + "," + srv.Addr() + "?tls=false",
		"esdb://" + dead + "," + srv.Addr() + "?tls=false&nodePreference=leader",
		"esdb+discover://" + srv.Addr() + "?tls=false",
	} {
		s, err := esdb.Open(ctx, conn, esdb.Options{Logger: quiet()})
		require.NoError(t, err, conn)
		_, err = s.Append(ctx, "cluster-"+fmt.Sprint(strings.Count(conn, ",")), events.Any, storetest.Ev("T", 1))
		require.NoError(t, err, conn)
		s.Close()
	}
}
