package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
)

func TestIsTransient(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"starting up", fmt.Errorf("connect: %w", &pgconn.PgError{Code: "57P03"}), true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"refused", &net.OpError{Op: "dial", Net: "unix", Err: syscall.ECONNREFUSED}, true},
		{"socket gone", &net.OpError{Op: "dial", Net: "unix", Err: syscall.ENOENT}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"eof mid-reply", fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"undefined table", &pgconn.PgError{Code: "42P01"}, false},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, false},
		{"wrong revision", &pgconn.PgError{Code: "BLWRV"}, false},
		{"cancelled", fmt.Errorf("query: %w", context.Canceled), false},
		{"deadline", context.DeadlineExceeded, false},
		{"other", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, postgres.IsTransient(tc.err))
		})
	}
}

// TestRetryDo: a transient error is retried until the call succeeds, any
// other error returns at once, and MaxElapsed gives up with the last
// error, still transient.
func TestRetryDo(t *testing.T) {
	ctx := context.Background()
	fast := postgres.Retry{First: time.Millisecond, Max: 2 * time.Millisecond}
	down := &pgconn.PgError{Code: "57P01"}
	for _, tc := range []struct {
		name      string
		retry     postgres.Retry
		errs      []error // returned by successive calls; then nil
		wantCalls int
		wantErr   error
	}{
		{"succeeds", fast, nil, 1, nil},
		{"rides out a restart", fast, []error{down, down, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, 4, nil},
		{"refused statement", fast, []error{&pgconn.PgError{Code: "23505"}}, 1, &pgconn.PgError{Code: "23505"}},
		{"gives up", postgres.Retry{First: 20 * time.Millisecond, Max: 20 * time.Millisecond, MaxElapsed: time.Millisecond},
			[]error{down, down}, 1, down},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := tc.retry.Do(ctx, "test", func(context.Context) error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			})
			require.Equal(t, tc.wantCalls, calls)
			if tc.wantErr == nil {
				require.NoError(t, err)
				return
			}
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr)
			require.Equal(t, tc.wantErr.(*pgconn.PgError).Code, pgErr.Code)
			require.Equal(t, postgres.IsTransient(tc.wantErr), postgres.IsTransient(err))
		})
	}
}

// TestRetryRidesOutRestart restarts a real cluster: the session open
// across the restart fails with an error IsTransient accepts, and a call
// through Retry made during the restart succeeds once the server is back.
func TestRetryRidesOutRestart(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t)
	pool, err := pgxpool.New(ctx, c.AdminURL("postgres"))
	require.NoError(t, err)
	defer pool.Close()
	held, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer held.Release()
	require.NoError(t, held.Ping(ctx))

	restarted := make(chan error, 1)
	go func() { restarted <- c.Restart(ctx) }()
	// Query until the restart is over: the errors met meanwhile are
	// real ones, and Do must treat each as transient.
	var one int
	err = postgres.Retry{First: 10 * time.Millisecond}.Do(ctx, "select during restart", func(ctx context.Context) error {
		if err := pool.QueryRow(ctx, "select 1").Scan(&one); err != nil {
			return err
		}
		select {
		case err := <-restarted:
			restarted <- err
			return nil
		default:
			return &pgconn.PgError{Code: "57P03"} // not over yet: ask again
		}
	})
	require.NoError(t, err)
	require.Equal(t, 1, one)
	require.NoError(t, <-restarted)

	_, err = held.Exec(ctx, "select 1")
	require.Error(t, err, "the session open across the restart was ended")
	require.True(t, postgres.IsTransient(err), "%v is transient", err)
}
