package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/eventstore/pglog"
	"buildledger/adapters/notify/httpsend"
	"buildledger/adapters/postgres"
	"buildledger/adapters/postgres/pgtest"
	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/commands/reactors/webhook"
	"buildledger/domain/streams"
	"buildledger/events"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestWebhookIsSignedAndScopedToItsProject: a finished build of project
// p reaches p's webhook once, signed with p's secret; project q's hook
// hears nothing; the secret and the URL's path (a Slack URL is a
// credential) stay out of the log.
func TestWebhookIsSignedAndScopedToItsProject(t *testing.T) {
	ctx := context.Background()
	const secret = "hook-secret"
	var mu sync.Mutex
	var bodies []webhook.Body
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(raw)
		mu.Lock()
		defer mu.Unlock()
		if !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte("sha256="+hex.EncodeToString(m.Sum(nil)))) {
			bad = append(bad, r.URL.Path)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var b webhook.Body
		require.NoError(t, json.Unmarshal(raw, &b))
		bodies = append(bodies, b)
	}))
	defer srv.Close()

	pool := pgtest.NewPool(t)
	store := pglog.New(pool, pglog.Options{})
	rt := commands.NewRuntime(store, events.NewCodec(), commands.Options{Host: "test"})
	ob := postgres.NewOutbox(pool)
	box := outbox.New(rt, ob, nil)
	hooks := []webhook.Hook{{Project: "p", URL: srv.URL + "/services/T0/B0/token-in-path", Secret: "webhook/p/1"},
		{Project: "q", URL: srv.URL + "/q", Secret: "webhook/q/1"}}
	f := outbox.NewFollower(rt, ob, webhook.New(rt, box, hooks, "https://hydra.example.org", nil), nil)
	require.NoError(t, f.CatchUp(ctx))
	put := func(stream string, p events.Payload) {
		ev, err := rt.Codec().Encode(p, events.Metadata{Actor: "component:test"}, time.Now())
		require.NoError(t, err)
		_, err = store.Append(ctx, stream, events.Any, ev)
		require.NoError(t, err)
	}
	put(streams.Build(1), &events.BuildQueued{BuildID: 1, EvalID: 1, Project: "p", Jobset: "j", Job: "hello", System: "x86_64-linux"})
	put(streams.Build(1), &events.BuildFinished{BuildID: 1, Status: 1})
	require.NoError(t, f.CatchUp(ctx))
	require.NoError(t, f.CatchUp(ctx))
	w := outbox.NewWorker(rt, ob, map[string]outbox.Sender{"webhook": &httpsend.Sender{
		Secrets: map[string]string{"webhook/p/1": secret, "webhook/q/1": "other"}}}, outbox.WorkerOptions{})
	_, err := w.DeliverDue(ctx)
	require.NoError(t, err)

	require.Empty(t, bad)
	require.Len(t, bodies, 1)
	require.Equal(t, "build_finished", bodies[0].Event)
	require.Equal(t, "Failed", bodies[0].StatusName)
	require.Equal(t, "https://hydra.example.org/build/1", bodies[0].URL)
	require.Contains(t, bodies[0].Text, "p:j:hello")

	recs, err := store.ReadAll(ctx, events.Position{}, 1000)
	require.NoError(t, err)
	for _, r := range recs {
		require.False(t, strings.Contains(string(r.Data), "token-in-path") || strings.Contains(string(r.Data), secret), "%s leaks", r.Type)
	}
}
