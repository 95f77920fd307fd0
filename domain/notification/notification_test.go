package notification_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/domainerr"
	"buildledger/domain/notification"
	"buildledger/events"
)

func TestBackoffIsHydras(t *testing.T) {
	for attempt, want := range map[int]int64{1: 2, 2: 4, 3: 8, 10: 1024, 11: 1024, 100: 1024} {
		require.Equal(t, want, notification.Backoff(attempt), "attempt %d", attempt)
	}
}

func TestKeyIsStable(t *testing.T) {
	k := notification.Key("ev1", "githubstatus", "o/r@abc")
	require.Equal(t, k, notification.Key("ev1", "githubstatus", "o/r@abc"))
	require.NotEqual(t, k, notification.Key("ev2", "githubstatus", "o/r@abc"))
	require.NotEqual(t, k, notification.Key("ev1", "gitea", "o/r@abc"))
	// The separator keeps fields from running into each other.
	require.NotEqual(t, notification.Key("a", "bc", "d"), notification.Key("ab", "c", "d"))
}

func TestDecide(t *testing.T) {
	q := events.NotificationQueued{Key: "k", Plugin: "githubstatus", Channel: "build_finished", Target: "t", Digest: "d", Cause: "c", QueuedAt: 100}
	queued := notification.Evolve(notification.State{}, &q)
	failedOnce := notification.Evolve(queued, &events.NotificationFailed{Key: "k", Attempt: 1, RetryAt: 102})
	delivered := notification.Evolve(failedOnce, &events.NotificationDelivered{Key: "k", Attempt: 2})
	gaveUp := notification.Evolve(queued, &events.NotificationFailed{Key: "k", Attempt: notification.MaxAttempts, RetryAt: 0})
	at99 := notification.Evolve(queued, &events.NotificationFailed{Key: "k", Attempt: notification.MaxAttempts - 1, RetryAt: 5})
	for _, tc := range []struct {
		name  string
		state notification.State
		cmd   notification.Command
		want  []events.Payload
		err   error
	}{
		{"queue", notification.State{}, notification.Queue{NotificationQueued: q}, []events.Payload{&q}, nil},
		{"queue again does nothing", queued, notification.Queue{NotificationQueued: q}, nil, nil},
		{"queue without digest", notification.State{}, notification.Queue{NotificationQueued: events.NotificationQueued{Key: "k", Plugin: "p", Cause: "c"}}, nil, domainerr.ErrInvalid},
		{"first failure waits 2s", queued, notification.Fail{Attempt: 1, Error: "500", Now: 200},
			[]events.Payload{&events.NotificationFailed{Key: "k", Attempt: 1, Error: "500", RetryAt: 202, FailedAt: 200}}, nil},
		{"second failure waits 4s", failedOnce, notification.Fail{Attempt: 2, Error: "timeout", Now: 300},
			[]events.Payload{&events.NotificationFailed{Key: "k", Attempt: 2, Error: "timeout", RetryAt: 304, FailedAt: 300}}, nil},
		{"the 100th failure gives up", at99, notification.Fail{Attempt: notification.MaxAttempts, Error: "x", Now: 9},
			[]events.Payload{&events.NotificationFailed{Key: "k", Attempt: notification.MaxAttempts, Error: "x", RetryAt: 0, FailedAt: 9}}, nil},
		{"deliver", failedOnce, notification.Deliver{Attempt: 2, Response: "201 Created", Now: 400},
			[]events.Payload{&events.NotificationDelivered{Key: "k", Attempt: 2, Response: "201 Created", DeliveredAt: 400}}, nil},
		{"a repeated attempt is a conflict", failedOnce, notification.Deliver{Attempt: 1}, nil, domainerr.ErrConflict},
		{"delivered is never delivered again", delivered, notification.Deliver{Attempt: 3}, nil, domainerr.ErrConflict},
		{"given up stays given up", gaveUp, notification.Fail{Attempt: notification.MaxAttempts + 1}, nil, domainerr.ErrConflict},
		{"an attempt on nothing queued", notification.State{}, notification.Deliver{Attempt: 1}, nil, domainerr.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := notification.Decide(tc.state, tc.cmd)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestLongErrorsAreCut(t *testing.T) {
	s := notification.Evolve(notification.State{}, &events.NotificationQueued{Key: "k", Plugin: "p", Digest: "d", Cause: "c"})
	long := make([]byte, 2000)
	for i := range long {
		long[i] = 'x'
	}
	got, err := notification.Decide(s, notification.Fail{Attempt: 1, Error: string(long)})
	require.NoError(t, err)
	require.Len(t, got[0].(*events.NotificationFailed).Error, 500)
}
