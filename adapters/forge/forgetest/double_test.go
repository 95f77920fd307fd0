package forgetest

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that keeps the double's complaints.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestDoublesRefuseWhatTheForgeWould: requests the forges' descriptions
// do not allow fail the test, each with a 4xx.
func TestDoublesRefuseWhatTheForgeWould(t *testing.T) {
	tests := []struct {
		name string
		url  func(gh, gl, gt string) string
		ok   bool
	}{
		{"github pulls", func(gh, _, _ string) string { return gh + "/repos/a/b/pulls?per_page=100&state=open" }, true},
		{"github bad state", func(gh, _, _ string) string { return gh + "/repos/a/b/pulls?state=merged" }, false},
		{"github per_page not a number", func(gh, _, _ string) string { return gh + "/repos/a/b/pulls?per_page=x" }, false},
		{"github unknown parameter", func(gh, _, _ string) string { return gh + "/repos/a/b/pulls?limit=5" }, false},
		{"github unknown path", func(gh, _, _ string) string { return gh + "/repos/a/b/pull" }, false},
		{"github refs", func(gh, _, _ string) string { return gh + "/repos/a/b/git/matching-refs/heads/x" }, true},
		{"gitlab merge requests", func(_, gl, _ string) string {
			return gl + "/api/v4/projects/4/merge_requests?state=opened&per_page=100"
		}, true},
		{"gitlab bad state", func(_, gl, _ string) string { return gl + "/api/v4/projects/4/merge_requests?state=open" }, false},
		{"gitlab v3", func(_, gl, _ string) string { return gl + "/api/v3/projects/4" }, false},
		{"gitea pulls", func(_, _, gt string) string { return gt + "/api/v1/repos/a/b/pulls?state=open&limit=50" }, true},
		{"gitea bad limit", func(_, _, gt string) string { return gt + "/api/v1/repos/a/b/pulls?limit=-1" }, false},
		{"gitea without the base path", func(_, _, gt string) string { return gt + "/repos/a/b/pulls" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			gh, gl, gt := NewGitHubPullsDouble(rec), NewGitLabPullsDouble(rec), NewGiteaPullsDouble(rec)
			res, err := http.Get(tt.url(gh.URL(), gl.URL(), gt.URL()))
			require.NoError(t, err)
			res.Body.Close()
			if tt.ok {
				require.Empty(t, rec.errs)
				require.Equal(t, http.StatusOK, res.StatusCode)
			} else {
				require.Len(t, rec.errs, 1)
				require.GreaterOrEqual(t, res.StatusCode, 400)
			}
		})
	}
}
