package inputs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/forge/forgetest"
	"buildledger/events"
)

func fetchForgeInput(t *testing.T, f *Fetcher, typ, value string) (map[string]map[string]any, string, string) {
	t.Helper()
	in, err := f.Fetch(context.Background(), events.JobsetInput{Name: "prs", Type: typ, Value: value})
	require.NoError(t, err)
	data, err := os.ReadFile(in.StorePath)
	require.NoError(t, err)
	var m map[string]map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	require.Regexp(t, `^[0-9]{14}$`, in.Revision)
	require.Equal(t, narHash(t, in.StorePath), in.SHA256)
	return m, in.StorePath, in.Revision
}

// TestFetchGitHubPulls: the open pull requests, every page of them, are
// one JSON object by number in the store, fetched with the owner's token;
// an unchanged list keeps its store path and revision, a closed pull
// request leaves it.
func TestFetchGitHubPulls(t *testing.T) {
	requireTools(t)
	gh := forgetest.NewGitHubPullsDouble(t)
	gh.Tokens = map[string]string{"acme": "token s3cret"}
	for n := 1; n <= 130; n++ {
		gh.OpenPull("acme", "app", forgetest.PullRequest{Number: n, Title: fmt.Sprint("pr ", n), HeadSHA: fmt.Sprintf("%040d", n)})
	}
	f := &Fetcher{CacheDir: t.TempDir(), Forges: Forges{GitHubEndpoint: gh.URL(), GitHubTokens: map[string]string{"acme": "token s3cret"}}}
	m, sp, rev := fetchForgeInput(t, f, "githubpulls", "acme app")
	require.Len(t, m, 130)
	require.Equal(t, "pr 7", m["7"]["title"])
	require.Equal(t, "github-pulls.json", sp[len(sp)-len("github-pulls.json"):])
	require.Len(t, gh.Requests(), 2, "two pages of 100")
	for _, r := range gh.Requests() {
		require.Equal(t, "token s3cret", r.Header.Get("Authorization"))
		require.Equal(t, "application/vnd.github.v3+json", r.Header.Get("Accept"))
	}

	_, sp2, rev2 := fetchForgeInput(t, f, "githubpulls", "acme app")
	require.Equal(t, sp, sp2)
	require.Equal(t, rev, rev2)

	gh.ClosePull("acme", "app", 7)
	m, sp3, _ := fetchForgeInput(t, f, "githubpulls", "acme app")
	require.NotContains(t, m, "7")
	require.NotEqual(t, sp, sp3)

	// Without the token, the private repository is not found.
	f.Forges.GitHubTokens = nil
	_, err := f.Fetch(context.Background(), events.JobsetInput{Name: "prs", Type: "githubpulls", Value: "acme app"})
	require.ErrorContains(t, err, "404")
}

func TestFetchGitHubRefs(t *testing.T) {
	requireTools(t)
	gh := forgetest.NewGitHubPullsDouble(t)
	gh.SetRefs("acme", "app", "refs/heads/main", "refs/heads/release-1", "refs/heads/release-2", "refs/tags/v1")
	f := &Fetcher{CacheDir: t.TempDir(), Forges: Forges{GitHubEndpoint: gh.URL()}}
	m, _, _ := fetchForgeInput(t, f, "github_refs", "acme app heads - release-")
	require.Equal(t, []string{"release-1", "release-2"}, sortedKeysOf(m))
	require.Equal(t, "refs/heads/release-1", m["release-1"]["ref"])
	m, _, _ = fetchForgeInput(t, f, "github_refs", "acme app tags -")
	require.Equal(t, []string{"v1"}, sortedKeysOf(m))
	for _, r := range gh.Requests() {
		require.Empty(t, r.Header.Get("Authorization"), "no token is configured for acme")
	}
}

func TestFetchGitLabPulls(t *testing.T) {
	requireTools(t)
	gl := forgetest.NewGitLabPullsDouble(t)
	gl.Tokens = map[string]string{"42": "glpat-s3cret"}
	gl.CloneURLs["42"] = "https://gitlab.example/acme/app.git"
	gl.OpenMergeRequest("42", forgetest.PullRequest{Number: 3, Title: "mr", HeadRef: "fix", BaseRef: "main", SourceProject: 42})
	f := &Fetcher{CacheDir: t.TempDir(), Forges: Forges{GitLabURLs: []string{gl.URL()}, GitLabTokens: map[string]string{"42": "glpat-s3cret"}}}
	m, _, _ := fetchForgeInput(t, f, "gitlabpulls", gl.URL()+" 42")
	require.Equal(t, "https://gitlab.example/acme/app.git", m["3"]["target_repo_url"])
	require.Equal(t, "fix", m["3"]["source_branch"])
	for _, r := range gl.Requests() {
		require.Equal(t, "glpat-s3cret", r.Header.Get("Private-Token"))
	}
}

func TestFetchGiteaPulls(t *testing.T) {
	requireTools(t)
	gt := forgetest.NewGiteaPullsDouble(t)
	gt.Tokens = map[string]string{"acme": "s3cret"}
	gt.OpenPull("acme", "app", forgetest.PullRequest{Number: 5, Title: "five", HeadRef: "feature"})
	f := &Fetcher{CacheDir: t.TempDir(), Forges: Forges{GiteaURLs: []string{gt.URL() + "/"}, GiteaTokens: map[string]string{"acme": "s3cret"}}}
	m, _, _ := fetchForgeInput(t, f, "giteapulls", gt.URL()+" acme app")
	require.Equal(t, "five", m["5"]["title"])
	require.Len(t, gt.Requests(), 1)
}

// TestForgeTokensStayWithTheirForge: a jobset author chooses a
// gitlabpulls or giteapulls input's address, but a token only goes to a
// forge the operator configured, and never follows a redirect or a next
// link to another host.
func TestForgeTokensStayWithTheirForge(t *testing.T) {
	requireTools(t)
	var stolen []string
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen = append(stolen, r.Header.Get("Private-Token")+r.Header.Get("Authorization"))
		fmt.Fprint(w, "[]")
	}))
	defer thief.Close()
	gl := forgetest.NewGitLabPullsDouble(t)
	f := &Fetcher{CacheDir: t.TempDir(), Forges: Forges{
		GitLabURLs: []string{gl.URL()}, GitLabTokens: map[string]string{"42": "glpat-s3cret"},
		GiteaURLs: []string{"https://gitea.example"}, GiteaTokens: map[string]string{"acme": "s3cret"}}}

	for _, in := range []events.JobsetInput{
		{Name: "prs", Type: "gitlabpulls", Value: thief.URL + " 42"},
		{Name: "prs", Type: "giteapulls", Value: thief.URL + " acme app"},
	} {
		_, err := f.Fetch(context.Background(), in)
		require.ErrorIs(t, err, ErrForgeNotAllowed, in.Type)
	}
	require.Empty(t, stolen)

	// A configured forge that redirects, or links its next page, to
	// another host: the request is not made.
	for _, answer := range []func(w http.ResponseWriter, r *http.Request){
		func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, thief.URL+r.URL.Path, http.StatusFound)
		},
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", fmt.Sprintf(`<%s/repos/acme/app/pulls?page=2>; rel="next"`, thief.URL))
			fmt.Fprint(w, "[]")
		},
	} {
		bad := httptest.NewServer(http.HandlerFunc(answer))
		f.Forges.GitHubEndpoint, f.Forges.GitHubTokens = bad.URL, map[string]string{"acme": "token s3cret"}
		_, err := f.Fetch(context.Background(), events.JobsetInput{Name: "prs", Type: "githubpulls", Value: "acme app"})
		bad.Close()
		require.Error(t, err)
	}
	require.Empty(t, stolen)
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
