package forgetest

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStatusDoublesFollowTheDescriptions: each status double accepts a
// status its forge documents; one it does not (a state outside the enum,
// a missing required field, a path that is no operation) fails the test
// with a 4xx, and wrong credentials get 401.
func TestStatusDoublesFollowTheDescriptions(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		forge      Forge
		url        string
		good, bad  string
		authHeader string
	}{
		{GitHub, "https://api.github.com/repos/o/r/statuses/" + sha,
			`{"state":"success","context":"c","target_url":"https://x/build/1","description":"d"}`, `{"state":"done"}`, "Authorization"},
		{Gitea, "https://gitea.example.org/api/v1/repos/o/r/statuses/" + sha,
			`{"state":"pending","context":"Hydra hello","target_url":"https://x/build/1","description":"d"}`, `{"state":7}`, "Authorization"},
		{GitLab, "https://gitlab.example.org/api/v4/projects/42/statuses/" + sha,
			`{"state":"running","name":"Hydra hello","target_url":"https://x/build/1","description":"d"}`, `{"state":"pending-ish"}`, "Private-Token"},
		{BitBucket, "https://api.bitbucket.org/2.0/repositories/o/r/commit/" + sha + "/statuses/build",
			`{"state":"SUCCESSFUL","key":"1","name":"p:j:hello","url":"https://x/build/1","description":"d"}`, `{"state":"SUCCESSFUL"}`, "Authorization"},
	} {
		t.Run(tc.forge.Name, func(t *testing.T) {
			rec := &recorder{TB: t}
			d := NewStatusDouble(rec, tc.forge, tc.authHeader, "good")
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
			require.Empty(t, rec.errs)
			require.Equal(t, http.StatusUnprocessableEntity, post(tc.url, tc.bad, "good"))
			require.Equal(t, http.StatusNotFound, post(tc.url+"/extra", tc.good, "good"))
			require.Len(t, rec.errs, 2, "what the forge would refuse fails the test")
			require.Equal(t, http.StatusUnauthorized, post(tc.url, tc.good, "bad"))
			require.Len(t, d.Accepted(), 1)
			require.Len(t, d.Refused(), 3)
			require.Len(t, d.Requests(), 4)
		})
	}
}

// TestFaults: a double answers 500 or hangs for the injected faults,
// then serves again.
func TestFaults(t *testing.T) {
	d := NewStatusDouble(t, GitHub, "Authorization", "good")
	d.Inject(Fail500)
	post := func() int {
		req, err := http.NewRequest("POST", "https://api.github.com/repos/o/r/statuses/0123456789abcdef0123456789abcdef01234567",
			bytes.NewBufferString(`{"state":"success"}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "good")
		resp, err := d.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusInternalServerError, post())
	require.Equal(t, http.StatusCreated, post())
}
