package e2e

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/commands/reactors/outbox"
	"buildledger/commands/reactors/pgnotify"
)

// TestLiveBuildIsHeard: a connection that LISTENs to Hydra's channels
// hears a live evaluation and build (eval_started, build_queued,
// eval_added, build_started, step_finished, build_finished), sent by
// the pgnotify reactor as up runs it; a restarted reactor sends none of
// it again. (eval_cached, cached_build_*, eval_failed: see
// commands/reactors/pgnotify's test.)
func TestLiveBuildIsHeard(t *testing.T) {
	requireTools(t, "nix-store", "nix-instantiate", "nix")
	t.Parallel()
	e := newHarness(t, harnessOptions{})
	e.seed("release.nix")
	e.registerMachine("localhost", localhostMachine())

	conn, err := pgx.ConnectConfig(e.ctx, e.pool.Config().ConnConfig.Copy())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	channels := []string{"build_queued", "build_started", "build_finished", "step_finished", "eval_started", "eval_added",
		"eval_cached", "eval_failed", "cached_build_finished", "cached_build_queued", "test_done"}
	for _, c := range channels {
		_, err := conn.Exec(e.ctx, "listen "+c)
		require.NoError(t, err)
	}
	var (
		mu    sync.Mutex
		heard []string
	)
	lctx, stopListening := context.WithCancel(e.ctx)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		for {
			n, err := conn.WaitForNotification(lctx)
			if err != nil {
				return
			}
			mu.Lock()
			heard = append(heard, n.Channel+" "+n.Payload)
			mu.Unlock()
		}
	}()
	defer func() { stopListening(); <-listening }()
	got := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), heard...) }
	hasChannel := func(c string) bool {
		for _, h := range got() {
			if strings.HasPrefix(h, c+" ") {
				return true
			}
		}
		return false
	}

	store := postgres.NewOutbox(e.pool)
	reactor := func() *outbox.Follower {
		return outbox.NewFollower(e.rt, store, pgnotify.New(e.rt, postgres.NewNotifier(e.pool), postgres.NewNotifyLookup(e.pool), e.log), e.log)
	}
	require.NoError(t, reactor().CatchUp(e.ctx)) // the first start: the seed is history
	rctx, stopReactor := context.WithCancel(e.ctx)
	reactorDone := make(chan error, 1)
	go func() {
		// As up's supervise: started again after a database error.
		for {
			err := reactor().Run(rctx)
			if rctx.Err() != nil {
				reactorDone <- nil
				return
			}
			t.Logf("pgnotify reactor stopped, starting it again: %v", err)
			time.Sleep(100 * time.Millisecond)
		}
	}()

	e.startQueue(queueOptions{})
	sum := e.evaluate()
	e.waitBuilds(sum.Builds, pipelineDeadline)
	for _, c := range []string{"eval_started", "build_queued", "eval_added", "build_started", "step_finished", "build_finished"} {
		deadline := time.Now().Add(pipelineDeadline)
		for !hasChannel(c) {
			require.True(t, time.Now().Before(deadline), "%s not heard; heard %v", c, got())
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Every build's end heard, the reactor has nothing left to send. A
	// build that failed with another's step is heard in that build's
	// build_finished, after its id, as Hydra sends it.
	finished := func() int {
		ids := map[string]bool{}
		for _, h := range got() {
			if payload, ok := strings.CutPrefix(h, "build_finished "); ok {
				for _, id := range strings.Split(payload, "\t") {
					ids[id] = true
				}
			}
		}
		return len(ids)
	}
	deadline := time.Now().Add(pipelineDeadline)
	for finished() < sum.Builds {
		require.True(t, time.Now().Before(deadline), "%d of %d build_finished heard", finished(), sum.Builds)
		time.Sleep(100 * time.Millisecond)
	}
	stopReactor()
	require.NoError(t, <-reactorDone)
	// mark sends a marker and waits for it: everything sent before it
	// has been heard.
	mark := func(payload string) {
		_, err := e.pool.Exec(e.ctx, `select pg_notify('test_done', $1)`, payload)
		require.NoError(t, err)
		deadline := time.Now().Add(time.Minute)
		for !slices.Contains(got(), "test_done "+payload) {
			require.True(t, time.Now().Before(deadline), "the marker was not heard")
			time.Sleep(50 * time.Millisecond)
		}
	}
	mark("1")

	// A restarted reactor resumes from its checkpoint: nothing again.
	before := len(got())
	require.NoError(t, reactor().CatchUp(e.ctx))
	mark("2")
	require.Equal(t, []string{"test_done 2"}, got()[before:], "a restart repeats nothing")
}
