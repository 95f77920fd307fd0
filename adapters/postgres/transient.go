package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// IsTransient reports whether err says the database could not be reached
// or dropped the connection, rather than refusing the statement: the same
// call may succeed once the server is back. It is the one place that
// decides which database errors are worth retrying:
//   - SQLSTATE class 08 (connection exception);
//   - 57P01 admin_shutdown, 57P02 crash_shutdown and 57P03 cannot_connect_now
//     (a server that stops or is still starting, as during pg_ctl restart);
//   - errors pgconn marks safe to retry (nothing reached the server);
//   - failures to connect and broken connections (refused, reset, a socket
//     that is gone, an EOF mid-reply).
//
// Any other server error, and a cancelled or expired context, is not
// transient.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03":
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case pgconn.SafeToRetry(err), errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}

// Retry bounds a retry loop. The zero value retries until the context
// ends.
type Retry struct {
	// Log receives one warning per failed attempt and a note when the
	// call succeeds after failing. Default slog.Default().
	Log *slog.Logger
	// MaxElapsed, if set, is how long a call keeps retrying before it
	// returns the last error: long enough to ride out a restart of the
	// server, short enough for a caller that waits on the answer.
	MaxElapsed time.Duration
	// First is the first wait, doubled after each failure up to Max, each
	// varied by ±50% so that many callers do not come back at once.
	// Defaults 100ms and 5s.
	First, Max time.Duration
}

// healthyRun is how long a call must have run before its failure counts
// as a new outage: the waits start again from First.
const healthyRun = time.Minute

// Do runs fn until it returns nil, an error that is not transient, or ctx
// ends; a transient error is retried after a capped, jittered wait. what
// names the call in the log. For a long-running fn (a worker loop) Do is
// its supervisor: a run that fails after working for a while starts the
// waits afresh.
func (r Retry) Do(ctx context.Context, what string, fn func(context.Context) error) error {
	log := r.Log
	if log == nil {
		log = slog.Default()
	}
	b := &backoff.ExponentialBackOff{InitialInterval: r.First, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: r.Max}
	if b.InitialInterval <= 0 {
		b.InitialInterval = 100 * time.Millisecond
	}
	if b.MaxInterval <= 0 {
		b.MaxInterval = 5 * time.Second
	}
	b.Reset()
	start := time.Now()
	for attempt := 1; ; attempt++ {
		began := time.Now()
		err := fn(ctx)
		if err == nil && attempt > 1 {
			log.Info("database reachable again", "what", what, "attempts", attempt, "after", time.Since(start).Round(time.Millisecond))
		}
		if err == nil || !IsTransient(err) || ctx.Err() != nil {
			return err
		}
		if time.Since(began) > healthyRun {
			b.Reset()
			start, attempt = began, 1
		}
		wait := b.NextBackOff()
		if r.MaxElapsed > 0 && time.Since(start)+wait > r.MaxElapsed {
			return fmt.Errorf("%s: database unavailable for %s (%d attempts): %w", what, time.Since(start).Round(time.Second), attempt, err)
		}
		log.Warn("database unavailable, retrying", "what", what, "attempt", attempt, "wait", wait.Round(time.Millisecond), "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
