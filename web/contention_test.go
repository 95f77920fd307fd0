package web_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/events"
	"buildledger/web"
)

// contended is a build's command handlers that gave up on every
// optimistic-concurrency retry.
type contended struct{}

func (contended) err(id int64) error {
	return fmt.Errorf("append to build-%d after 10 attempts: %w", id, commands.ErrContention)
}

func (c contended) RestartBuild(_ context.Context, _ events.Metadata, id int64) (commands.Result, error) {
	return commands.Result{}, c.err(id)
}

func (c contended) CancelBuild(_ context.Context, _ events.Metadata, id int64) (commands.Result, error) {
	return commands.Result{}, c.err(id)
}

func (c contended) BumpBuild(_ context.Context, _ events.Metadata, id int64) (commands.Result, error) {
	return commands.Result{}, c.err(id)
}

func (c contended) KeepBuild(_ context.Context, _ events.Metadata, id int64, _ bool) (commands.Result, error) {
	return commands.Result{}, c.err(id)
}

var _ web.BuildActions = contended{}

// TestContention: a command that ran out of retries answers 503 with
// Retry-After, since it may pass in a moment, and not the 500 of a bug.
// Its error (stream names, attempts) is not shown.
func TestContention(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *web.Config) { c.Builds = contended{} }})
	admin := e.as("admin")
	for _, path := range []string{"/build/1/keep/1", "/build/3/cancel", "/eval/2/restart-failed"} {
		res := admin.do("POST", path, nil)
		require.Equal(t, http.StatusServiceUnavailable, res.code, "%s: %s", path, res.body)
		require.NotEmpty(t, res.header.Get("Retry-After"), path)
		require.JSONEq(t, `{"error":"too many concurrent changes to the same thing; try again shortly"}`, res.body, path)
	}
}
