package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
)

// TestDatabaseOutage stops Postgres under a running site (review finding
// M5): a page asked for meanwhile answers 503 with a JSON error that
// names no socket path, role or SQLSTATE, and once the database is back
// the same page works again, and so do commands and the projector, which
// kept running.
func TestDatabaseOutage(t *testing.T) {
	e := newEnv(t, envOpts{live: true, ownCluster: true})
	c := e.anon()
	require.Equal(t, http.StatusOK, c.do("GET", "/project/p", nil).code)

	require.NoError(t, e.cluster.Stop(e.ctx))
	res := c.do("GET", "/project/p", nil)
	require.Equal(t, http.StatusServiceUnavailable, res.code, res.body)
	var body map[string]string
	res.json(t, &body)
	require.Equal(t, map[string]string{"error": "the database is unavailable; try again shortly"}, body)
	require.Equal(t, "5", res.header.Get("Retry-After"))

	_, err := postgres.StartCluster(e.ctx, postgres.ClusterOptions{DataDir: e.cluster.DataDir})
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, c.do("GET", "/project/p", nil).code)
	admin := e.as("admin")
	res = admin.do("PUT", "/project/after", map[string]any{"displayname": "After", "enabled": true, "visible": true})
	require.Less(t, res.code, 300, res.body)
	require.Equal(t, http.StatusOK, c.do("GET", "/project/after", nil).code, "the projector applied the new project")
}
