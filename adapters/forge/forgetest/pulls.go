package forgetest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// PullRequest is an open pull (or merge) request as the doubles serve
// it: the fields a jobset's Nix expression reads.
type PullRequest struct {
	Number           int
	Title            string
	HeadRef, HeadSHA string
	HeadCloneURL     string
	BaseRef          string
	TargetCloneURL   string
	SourceProject    int
	Author           string
	UpdatedAt        string
}

// repoPulls keeps the open pull requests of each repository.
type repoPulls struct {
	pmu   sync.Mutex
	pulls map[string][]PullRequest // by "owner/repo" or project id
	refs  map[string][]string      // full ref names by "owner/repo"
}

func (p *repoPulls) open(key string, pr PullRequest) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	if p.pulls == nil {
		p.pulls = map[string][]PullRequest{}
	}
	p.pulls[key] = append(slices.DeleteFunc(p.pulls[key], func(x PullRequest) bool { return x.Number == pr.Number }), pr)
}

func (p *repoPulls) close(key string, number int) {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	p.pulls[key] = slices.DeleteFunc(p.pulls[key], func(x PullRequest) bool { return x.Number == number })
}

func (p *repoPulls) list(key string) []PullRequest {
	p.pmu.Lock()
	defer p.pmu.Unlock()
	out := slices.Clone(p.pulls[key])
	slices.SortFunc(out, func(a, b PullRequest) int { return b.Number - a.Number })
	return out
}

// GitHubPullsDouble is a double of GitHub's REST API for the
// githubpulls and github_refs inputs: GET /repos/{owner}/{repo}/pulls
// and GET /repos/{owner}/{repo}/git/matching-refs/{ref}, checked against
// api.github.com's description. Tokens maps an owner to the Authorization
// value its private repositories need; a request without it is answered
// 404, as GitHub hides a private repository.
type GitHubPullsDouble struct {
	*double
	repoPulls
	Tokens map[string]string
}

// NewGitHubPullsDouble starts the double; the test's end stops it.
func NewGitHubPullsDouble(t testing.TB) *GitHubPullsDouble {
	g := &GitHubPullsDouble{double: newDouble(t, "api.github.com.json", "", false)}
	g.handle(http.MethodGet, "/repos/{owner}/{repo}/pulls", g.servePulls)
	g.handle(http.MethodGet, "/repos/{owner}/{repo}/git/matching-refs/{ref}", g.serveRefs)
	return g
}

// OpenPull opens (or updates) pull request pr of owner/repo.
func (g *GitHubPullsDouble) OpenPull(owner, repo string, pr PullRequest) {
	g.open(owner+"/"+repo, pr)
}

// ClosePull closes pull request number of owner/repo.
func (g *GitHubPullsDouble) ClosePull(owner, repo string, number int) {
	g.close(owner+"/"+repo, number)
}

// SetRefs sets the refs of owner/repo, as full names (refs/heads/main).
func (g *GitHubPullsDouble) SetRefs(owner, repo string, refs ...string) {
	g.pmu.Lock()
	defer g.pmu.Unlock()
	if g.refs == nil {
		g.refs = map[string][]string{}
	}
	g.refs[owner+"/"+repo] = refs
}

func (g *GitHubPullsDouble) authorized(r *http.Request, owner string) bool {
	want, private := g.Tokens[owner]
	return !private || r.Header.Get("Authorization") == want
}

func (g *GitHubPullsDouble) servePulls(w http.ResponseWriter, r *http.Request, p map[string]string) {
	if !g.authorized(r, p["owner"]) {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	if s := r.URL.Query().Get("state"); s != "" && s != "open" {
		g.t.Errorf("forge double: only open pull requests are served, not state=%s", s)
	}
	var items []any
	for _, pr := range g.list(p["owner"] + "/" + p["repo"]) {
		items = append(items, map[string]any{
			"url":    fmt.Sprintf("%s/repos/%s/%s/pulls/%d", g.URL(), p["owner"], p["repo"], pr.Number),
			"number": pr.Number, "state": "open", "title": pr.Title, "updated_at": pr.UpdatedAt,
			"user": map[string]any{"login": pr.Author},
			"head": map[string]any{"ref": pr.HeadRef, "sha": pr.HeadSHA, "repo": map[string]any{"clone_url": pr.HeadCloneURL}},
			"base": map[string]any{"ref": pr.BaseRef, "repo": map[string]any{"clone_url": pr.TargetCloneURL}},
		})
	}
	g.page(w, r, items, "page", "per_page", 30)
}

func (g *GitHubPullsDouble) serveRefs(w http.ResponseWriter, r *http.Request, p map[string]string) {
	if !g.authorized(r, p["owner"]) {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	g.pmu.Lock()
	refs := slices.Clone(g.refs[p["owner"]+"/"+p["repo"]])
	g.pmu.Unlock()
	items := []any{}
	for i, ref := range refs {
		if strings.HasPrefix(ref, "refs/"+p["ref"]) {
			items = append(items, map[string]any{"ref": ref, "node_id": "n" + strconv.Itoa(i),
				"url":    g.URL() + "/repos/" + p["owner"] + "/" + p["repo"] + "/git/" + ref,
				"object": map[string]any{"type": "commit", "sha": fmt.Sprintf("%040d", i), "url": g.URL()}})
		}
	}
	writeJSON(w, items) // the operation is not paged
}

// GiteaPullsDouble is a double of Gitea's API for the giteapulls input:
// GET /api/v1/repos/{owner}/{repo}/pulls, checked against Gitea's
// swagger.v1.json. Tokens maps an owner to the token ("token X" in
// Authorization) its repositories need.
type GiteaPullsDouble struct {
	*double
	repoPulls
	Tokens map[string]string
}

// NewGiteaPullsDouble starts the double; the test's end stops it.
func NewGiteaPullsDouble(t testing.TB) *GiteaPullsDouble {
	g := &GiteaPullsDouble{double: newDouble(t, "gitea.swagger.v1.json", "/api/v1", false)}
	g.handle(http.MethodGet, "/repos/{owner}/{repo}/pulls", g.servePulls)
	return g
}

// OpenPull opens (or updates) pull request pr of owner/repo.
func (g *GiteaPullsDouble) OpenPull(owner, repo string, pr PullRequest) { g.open(owner+"/"+repo, pr) }

// ClosePull closes pull request number of owner/repo.
func (g *GiteaPullsDouble) ClosePull(owner, repo string, number int) { g.close(owner+"/"+repo, number) }

func (g *GiteaPullsDouble) servePulls(w http.ResponseWriter, r *http.Request, p map[string]string) {
	if want, ok := g.Tokens[p["owner"]]; ok && r.Header.Get("Authorization") != "token "+want {
		http.Error(w, `{"message":"not found"}`, http.StatusNotFound)
		return
	}
	var items []any
	for _, pr := range g.list(p["owner"] + "/" + p["repo"]) {
		items = append(items, map[string]any{
			"number": pr.Number, "state": "open", "title": pr.Title,
			"head": map[string]any{"ref": pr.HeadRef, "sha": pr.HeadSHA, "repo": map[string]any{"clone_url": pr.HeadCloneURL}},
			"base": map[string]any{"ref": pr.BaseRef, "repo": map[string]any{"clone_url": pr.TargetCloneURL}},
		})
	}
	g.page(w, r, items, "page", "limit", 30)
}

// GitLabPullsDouble is a double of GitLab's API v4 for the gitlabpulls
// input: GET /api/v4/projects/{id} and its merge_requests, checked
// against GitLab's OpenAPI description. Tokens maps a project id to the
// Private-Token its requests need.
type GitLabPullsDouble struct {
	*double
	repoPulls
	Tokens map[string]string
	// CloneURLs are the projects' http_url_to_repo, by id.
	CloneURLs map[string]string
}

// NewGitLabPullsDouble starts the double; the test's end stops it.
func NewGitLabPullsDouble(t testing.TB) *GitLabPullsDouble {
	g := &GitLabPullsDouble{double: newDouble(t, "gitlab.openapi_v2.json", "/api", false), CloneURLs: map[string]string{}}
	g.handle(http.MethodGet, "/v4/projects/{id}", g.serveProject)
	g.handle(http.MethodGet, "/v4/projects/{id}/merge_requests", g.serveMergeRequests)
	return g
}

// OpenMergeRequest opens (or updates) merge request pr (its Number is
// the iid) of project id.
func (g *GitLabPullsDouble) OpenMergeRequest(id string, pr PullRequest) { g.open(id, pr) }

// CloseMergeRequest closes merge request iid of project id.
func (g *GitLabPullsDouble) CloseMergeRequest(id string, iid int) { g.close(id, iid) }

func (g *GitLabPullsDouble) authorized(w http.ResponseWriter, r *http.Request, id string) bool {
	if want, ok := g.Tokens[id]; ok && r.Header.Get("Private-Token") != want {
		http.Error(w, `{"message":"404 Project Not Found"}`, http.StatusNotFound)
		return false
	}
	return true
}

func (g *GitLabPullsDouble) serveProject(w http.ResponseWriter, r *http.Request, p map[string]string) {
	if !g.authorized(w, r, p["id"]) {
		return
	}
	id, _ := strconv.Atoi(p["id"])
	writeJSON(w, map[string]any{"id": id, "http_url_to_repo": g.CloneURLs[p["id"]]})
}

func (g *GitLabPullsDouble) serveMergeRequests(w http.ResponseWriter, r *http.Request, p map[string]string) {
	if !g.authorized(w, r, p["id"]) {
		return
	}
	if s := r.URL.Query().Get("state"); s != "opened" {
		g.t.Errorf("forge double: only opened merge requests are served, not state=%q", s)
	}
	var items []any
	for _, pr := range g.list(p["id"]) {
		items = append(items, map[string]any{"iid": pr.Number, "id": 1000 + pr.Number, "title": pr.Title, "state": "opened",
			"source_branch": pr.HeadRef, "target_branch": pr.BaseRef, "sha": pr.HeadSHA, "source_project_id": pr.SourceProject})
	}
	g.page(w, r, items, "page", "per_page", 20)
}
