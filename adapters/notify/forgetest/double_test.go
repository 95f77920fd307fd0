package forgetest_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/notify/forgetest"
)

// TestDoublesFollowTheDescriptions: each double accepts a request its
// forge documents and refuses one it does not (a state outside the enum,
// a path that is no operation, a missing body, wrong credentials).
func TestDoublesFollowTheDescriptions(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		forge      forgetest.Forge
		url        string
		good, bad  string
		authHeader string
	}{
		{forgetest.GitHub, "https://api.github.com/repos/o/r/statuses/" + sha,
			`{"state":"success","context":"c","target_url":"https://x/build/1","description":"d"}`, `{"state":"done"}`, "Authorization"},
		{forgetest.Gitea, "https://gitea.example.org/api/v1/repos/o/r/statuses/" + sha,
			`{"state":"pending","context":"Hydra hello","target_url":"https://x/build/1","description":"d"}`, `{"state":7}`, "Authorization"},
		{forgetest.GitLab, "https://gitlab.example.org/api/v4/projects/42/statuses/" + sha,
			`{"state":"running","name":"Hydra hello","target_url":"https://x/build/1","description":"d"}`, `{"state":"pending-ish"}`, "Private-Token"},
		{forgetest.BitBucket, "https://api.bitbucket.org/2.0/repositories/o/r/commit/" + sha + "/statuses/build",
			`{"state":"SUCCESSFUL","key":"1","name":"p:j:hello","url":"https://x/build/1","description":"d"}`, `{"state":"SUCCESSFUL"}`, "Authorization"},
	} {
		t.Run(tc.forge.Name, func(t *testing.T) {
			d := forgetest.New(t, tc.forge, tc.authHeader, "good")
			post := func(url, body, auth string) int {
				req, err := http.NewRequest("POST", url, bytes.NewBufferString(body))
				require.NoError(t, err)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(tc.authHeader, auth)
				resp, err := d.Client().Do(req)
				require.NoError(t, err)
				resp.Body.Close()
				return resp.StatusCode
			}
			require.Equal(t, http.StatusCreated, post(tc.url, tc.good, "good"))
			require.Equal(t, http.StatusUnprocessableEntity, post(tc.url, tc.bad, "good"))
			require.Equal(t, http.StatusUnprocessableEntity, post(tc.url+"/extra", tc.good, "good"))
			require.Equal(t, http.StatusUnauthorized, post(tc.url, tc.good, "bad"))
			require.Len(t, d.Accepted(), 1)
			require.Len(t, d.Refused(), 3)
		})
	}
}
