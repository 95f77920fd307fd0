package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/events"
	"buildledger/web"
)

// TestSearchCaps: /search answers a bounded number of rows per section,
// Hydra's 10 unless ?limit= asks for up to 50, and refuses queries too
// short to be selective or too long to be a name or a store path.
func TestSearchCaps(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i := range web.MaxSearchRows + 5 {
		_, err := e.h.CreateProject(e.ctx, e.md(), commands.CreateProject{Name: fmt.Sprintf("many%02d", i),
			Config: events.ProjectConfig{DisplayName: "Many", Owner: "owner", Enabled: true}})
		require.NoError(t, err)
	}
	e.catchUp()
	c := e.anon()
	tests := []struct {
		query    string
		code     int
		projects int
		err      string
	}{
		{"query=many", 200, 10, ""},
		{"query=many&limit=3", 200, 3, ""},
		{"query=many&limit=100000", 200, web.MaxSearchRows, ""},
		{"query=many&limit=-1", 200, 10, ""},
		{"query=m", 400, 0, "query must have at least 2 characters"},
		{"query=" + strings.Repeat("m", 257), 400, 0, "query must have at most 256 characters"},
		{"query=" + strings.Repeat("m", 256), 200, 0, ""},
		{"query=ma%25ny", 400, 0, "invalid character in query"},
		{"query=", 400, 0, "missing query"},
	}
	for _, tt := range tests {
		res := c.do("GET", "/search?"+tt.query, nil)
		require.Equal(t, tt.code, res.code, "%s: %s", tt.query, res.body)
		if tt.code != http.StatusOK {
			require.Contains(t, res.body, tt.err, tt.query)
			continue
		}
		var got web.SearchResult
		res.json(t, &got)
		require.Len(t, got.Projects, tt.projects, tt.query)
		require.NotNil(t, got.Jobsets, "Hydra's shape: every section is a list")
		require.NotNil(t, got.Builds)
		require.NotNil(t, got.BuildsDrv)
	}
}
