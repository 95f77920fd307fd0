package web_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/events"
	"buildledger/web"
)

// failing is a Sender whose receiver is down.
type failing struct{}

func (failing) Send(context.Context, string, []byte) (string, error) {
	return "", errors.New("POST https://api.github.com: 502 Bad Gateway")
}

// TestNotificationsTabs: a status queued for build 1 and its failed
// attempt show on the build's and the jobset's Notifications tabs, as
// JSON and as HTML.
func TestNotificationsTabs(t *testing.T) {
	e := newEnv(t, envOpts{})
	rt := commands.NewRuntime(e.store, e.codec, commands.Options{Clock: commands.ClockFunc(func() time.Time { return now }), Host: "test"})
	box := postgres.NewOutbox(e.pool)
	require.NoError(t, outbox.New(rt, box, nil).Queue(e.ctx, events.Metadata{Actor: "component:forgestatus"}, events.NotificationQueued{
		Plugin: "githubstatus", Channel: "build_finished", Target: "POST https://api.github.com/repos/acme/widget/statuses/abc ctx",
		Cause: "ev-1", BuildID: 1, Project: "p", Jobset: "j"}, []byte(`{}`)))
	_, err := outbox.NewWorker(rt, box, map[string]outbox.Sender{"githubstatus": failing{}}, outbox.WorkerOptions{}).DeliverDue(e.ctx)
	require.NoError(t, err)
	e.catchUp()

	for _, path := range []string{"/build/1/notifications", "/jobset/p/j/notifications"} {
		res := e.anon().do("GET", path, nil)
		require.Equal(t, http.StatusOK, res.code, res.body)
		var ns []web.Notification
		res.json(t, &ns)
		require.Len(t, ns, 1, path)
		require.Equal(t, "githubstatus", ns[0].Plugin)
		require.Equal(t, "retrying", ns[0].State)
		require.Len(t, ns[0].Attempts, 1)
		require.False(t, ns[0].Attempts[0].Delivered)
		require.Contains(t, ns[0].Attempts[0].Detail, "502 Bad Gateway")
		require.Equal(t, now.Unix()+2, ns[0].Attempts[0].RetryAt)

		html := e.anon().do("GET", path, nil, "Accept", "text/html")
		require.Equal(t, http.StatusOK, html.code)
		require.Contains(t, html.body, "502 Bad Gateway")
	}
	require.Contains(t, e.anon().do("GET", "/build/1", nil, "Accept", "text/html").body, `/build/1/notifications">Notifications`)
	require.Equal(t, http.StatusNotFound, e.anon().do("GET", "/build/999999/notifications", nil).code)
	require.Equal(t, http.StatusNotFound, e.anon().do("GET", "/jobset/p/nope/notifications", nil).code)
}
