package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSmoke(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.as("admin")
	for _, p := range []string{"/", "/project/p", "/jobset/p/j", "/eval/2", "/build/1", "/queue", "/build/1/log", "/eval/2/graph", "/build/1/events", "/machines", "/steps", "/search?query=hello", "/admin/users", "/user/admin/tokens", "/jobset/p/j/evals", "/queue-summary"} {
		res := c.do("GET", p, nil)
		require.Equal(t, http.StatusOK, res.code, "%s: %s", p, res.body)
		t.Logf("%s: %.300s", p, res.body)
		res = c.do("GET", p, nil, "Accept", "text/html")
		require.Equal(t, http.StatusOK, res.code, "%s: %s", p, res.body)
	}
}
