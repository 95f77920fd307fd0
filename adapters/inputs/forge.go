package inputs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"buildledger/commands/evaluation"
	"buildledger/domain/jobset"
)

// DefaultGitHubEndpoint is GitHub's API, Hydra's default github_endpoint.
const DefaultGitHubEndpoint = "https://api.github.com"

// maxForgeResponse bounds one page of a forge's answer, and
// maxForgePages the pages one fetch reads (100 items each).
const (
	maxForgeResponse = 32 << 20
	maxForgePages    = 50
)

// ErrForgeNotAllowed is wrapped by the error for a gitlabpulls or
// giteapulls input whose forge the operator has not configured.
var ErrForgeNotAllowed = errors.New("not a forge the operator configured")

// Forges is the operator's configuration of the pull-request and refs
// inputs. Tokens come from hydra.conf's <github_authorization>,
// <gitlab_authorization> and <gitea_authorization> and are sent only to
// the forge they are configured for: a jobset author chooses the value
// of an input, and so its owner, repository and (for GitLab and Gitea)
// address, but not where a token goes.
type Forges struct {
	// GitHubEndpoint is GitHub's API (hydra.conf's github_endpoint);
	// empty means DefaultGitHubEndpoint.
	GitHubEndpoint string
	// GitHubTokens are the Authorization header values by repository
	// owner ("token …" or "Bearer …", sent as is, as Hydra does).
	GitHubTokens map[string]string
	// GitLabURLs and GiteaURLs are the forges a gitlabpulls or
	// giteapulls input may name; any other is refused. Their tokens go
	// to these only.
	GitLabURLs, GiteaURLs []string
	// GitLabTokens are Private-Token values by project id; GiteaTokens
	// the tokens by repository owner.
	GitLabTokens, GiteaTokens map[string]string
	// Client makes the requests; nil means one with a 60 s timeout.
	// Redirects are never followed.
	Client *http.Client
}

// forgeFiles names the JSON file each input type adds to the store.
var forgeFiles = map[string]string{
	"githubpulls": "github-pulls.json", "github_refs": "github-refs.json",
	"gitlabpulls": "gitlab-pulls.json", "giteapulls": "gitea-pulls.json",
}

// fetchForge asks a forge for the open pull requests (or the matching
// refs) of one repository, writes them as one canonical JSON object to a
// file and adds it to the store, as Hydra's GithubPulls, GithubRefs and
// GitlabPulls plugins do. The requests are made by the server, which
// holds the tokens; the file is the input's store path, and the revision
// is when that content was first fetched (UTC, %Y%m%d%H%M%S), so an
// unchanged list keeps its revision and makes no new evaluation.
func (f *Fetcher) fetchForge(ctx context.Context, typ, value string, out *evaluation.Input) error {
	in, err := jobset.ParseForgeInput(typ, value)
	if err != nil {
		return err
	}
	var items map[string]any
	switch typ {
	case "githubpulls":
		items, err = f.githubPulls(ctx, in)
	case "github_refs":
		items, err = f.githubRefs(ctx, in)
	case "gitlabpulls":
		items, err = f.gitlabPulls(ctx, in)
	case "giteapulls":
		items, err = f.giteaPulls(ctx, in)
	}
	if err != nil {
		return err
	}
	data, err := json.Marshal(items) // map keys sorted: canonical
	if err != nil {
		return fmt.Errorf("encode %s: %w", typ, err)
	}
	sum := sha256.Sum256([]byte("forge\x00" + typ + "\x00" + value))
	file := filepath.Join(f.CacheDir, "forge-inputs", hex.EncodeToString(sum[:]))
	unlock := f.lock(file)
	defer unlock()
	w, err := f.as(true)
	if err != nil {
		return err
	}
	dst, done, err := w.exportDir(forgeFiles[typ])
	if err != nil {
		return err
	}
	defer done()
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", typ, err)
	}
	sp, sha, err := w.addToStore(ctx, dst)
	if err != nil {
		return err
	}
	entry := f.readURLEntry(file)
	if entry.FirstSeen == nil {
		entry.FirstSeen = map[string]int64{}
	}
	now := time.Now()
	if _, ok := entry.FirstSeen[sha]; !ok {
		entry.FirstSeen[sha] = now.Unix()
	}
	entry.StorePath, entry.SHA256, entry.LastSeen = sp, sha, now.Unix()
	if err := writeURLEntry(file, entry); err != nil {
		return err
	}
	out.URI = value
	out.StorePath, out.SHA256 = sp, "sha256:"+sha
	out.Revision = time.Unix(entry.FirstSeen[sha], 0).UTC().Format("20060102150405")
	return nil
}

func (f *Fetcher) githubEndpoint() string {
	if f.Forges.GitHubEndpoint == "" {
		return DefaultGitHubEndpoint
	}
	return strings.TrimRight(f.Forges.GitHubEndpoint, "/")
}

// githubPulls lists a repository's open pull requests by number.
func (f *Fetcher) githubPulls(ctx context.Context, in jobset.ForgeInput) (map[string]any, error) {
	u := f.githubEndpoint() + "/repos/" + in.Owner + "/" + in.Repo + "/pulls?per_page=100"
	hdr := http.Header{"Accept": {"application/vnd.github.v3+json"}}
	if tok := f.Forges.GitHubTokens[in.Owner]; tok != "" {
		hdr.Set("Authorization", tok)
	}
	return f.forgeList(ctx, f.githubEndpoint(), u, hdr, func(item map[string]any) (string, error) {
		return jsonKey(item, "number")
	})
}

// githubRefs lists a repository's branches or tags whose names start
// with the prefix, by name without refs/heads/ or refs/tags/.
func (f *Fetcher) githubRefs(ctx context.Context, in jobset.ForgeInput) (map[string]any, error) {
	// The operation takes no per_page (GitHub's description): it answers
	// every matching ref at once.
	u := f.githubEndpoint() + "/repos/" + in.Owner + "/" + in.Repo + "/git/matching-refs/" + in.RefType + "/" + in.Prefix
	hdr := http.Header{"Accept": {"application/vnd.github.v3+json"}}
	if tok := f.Forges.GitHubTokens[in.Owner]; tok != "" {
		hdr.Set("Authorization", tok)
	}
	return f.forgeList(ctx, f.githubEndpoint(), u, hdr, func(item map[string]any) (string, error) {
		ref, _ := item["ref"].(string)
		name, ok := strings.CutPrefix(ref, "refs/"+in.RefType+"/")
		if !ok {
			return "", fmt.Errorf("ref %q is not under refs/%s/", ref, in.RefType)
		}
		return name, nil
	})
}

// gitlabPulls lists a project's open merge requests by iid, each with
// the project's clone URL as target_repo_url, as Hydra's GitlabPulls does.
func (f *Fetcher) gitlabPulls(ctx context.Context, in jobset.ForgeInput) (map[string]any, error) {
	if err := allowedForge(in.BaseURL, f.Forges.GitLabURLs, "--gitlab-url"); err != nil {
		return nil, err
	}
	hdr := http.Header{}
	if tok := f.Forges.GitLabTokens[in.ProjectID]; tok != "" {
		hdr.Set("Private-Token", tok)
	}
	project, err := f.forgeGet(ctx, in.BaseURL, in.BaseURL+"/api/v4/projects/"+in.ProjectID, hdr)
	if err != nil {
		return nil, err
	}
	var p struct {
		HTTPURLToRepo string `json:"http_url_to_repo"`
	}
	if err := json.Unmarshal(project.body, &p); err != nil {
		return nil, fmt.Errorf("gitlab project %s: %w", in.ProjectID, err)
	}
	u := in.BaseURL + "/api/v4/projects/" + in.ProjectID + "/merge_requests?per_page=100&state=opened"
	return f.forgeList(ctx, in.BaseURL, u, hdr, func(item map[string]any) (string, error) {
		item["target_repo_url"] = p.HTTPURLToRepo
		return jsonKey(item, "iid")
	})
}

// giteaPulls lists a Gitea repository's open pull requests by number.
func (f *Fetcher) giteaPulls(ctx context.Context, in jobset.ForgeInput) (map[string]any, error) {
	if err := allowedForge(in.BaseURL, f.Forges.GiteaURLs, "--gitea-url"); err != nil {
		return nil, err
	}
	hdr := http.Header{"Accept": {"application/json"}}
	if tok := f.Forges.GiteaTokens[in.Owner]; tok != "" {
		hdr.Set("Authorization", "token "+tok)
	}
	u := in.BaseURL + "/api/v1/repos/" + in.Owner + "/" + in.Repo + "/pulls?state=open&limit=50"
	return f.forgeList(ctx, in.BaseURL, u, hdr, func(item map[string]any) (string, error) {
		return jsonKey(item, "number")
	})
}

// allowedForge refuses a forge address the operator has not listed.
func allowedForge(base string, allowed []string, flag string) error {
	for _, a := range allowed {
		if strings.TrimRight(a, "/") == base {
			return nil
		}
	}
	return fmt.Errorf("%s: %w (%s)", base, ErrForgeNotAllowed, flag)
}

// jsonKey returns an item's number field as a map key.
func jsonKey(item map[string]any, field string) (string, error) {
	n, ok := item[field].(json.Number)
	if !ok {
		return "", fmt.Errorf("an item without a numeric %s", field)
	}
	return n.String(), nil
}

// forgeList reads every page of a list, following Link rel="next" within
// base, and keys each item with key.
func (f *Fetcher) forgeList(ctx context.Context, base, u string, hdr http.Header, key func(map[string]any) (string, error)) (map[string]any, error) {
	out := map[string]any{}
	for page := 0; u != ""; page++ {
		if page == maxForgePages {
			return nil, fmt.Errorf("%s: more than %d pages", base, maxForgePages)
		}
		res, err := f.forgeGet(ctx, base, u, hdr)
		if err != nil {
			return nil, err
		}
		var items []map[string]any
		dec := json.NewDecoder(bytes.NewReader(res.body))
		dec.UseNumber()
		if err := dec.Decode(&items); err != nil {
			return nil, fmt.Errorf("%s: not a JSON list: %w", redact(u), err)
		}
		for _, item := range items {
			k, err := key(item)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", redact(u), err)
			}
			out[k] = item
		}
		u = nextLink(res.header.Get("Link"))
	}
	return out, nil
}

type forgeResponse struct {
	header http.Header
	body   []byte
}

// forgeGet makes one GET request with hdr to u, which must lie under
// base (a next link elsewhere would carry the token there); redirects
// are not followed, for the same reason.
func (f *Fetcher) forgeGet(ctx context.Context, base, u string, hdr http.Header) (forgeResponse, error) {
	if !underBase(u, base) {
		return forgeResponse{}, fmt.Errorf("%s: a link out of %s", redact(u), base)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return forgeResponse{}, fmt.Errorf("forge request: %w", err)
	}
	req.Header = hdr.Clone()
	req.Header.Set("User-Agent", "buildledger")
	client := http.Client{Timeout: 60 * time.Second}
	if f.Forges.Client != nil {
		client = *f.Forges.Client
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		return forgeResponse{}, fmt.Errorf("GET %s: %w", redact(u), err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxForgeResponse+1))
	if err != nil {
		return forgeResponse{}, fmt.Errorf("GET %s: %w", redact(u), err)
	}
	if len(body) > maxForgeResponse {
		return forgeResponse{}, fmt.Errorf("GET %s: an answer larger than %d bytes", redact(u), maxForgeResponse)
	}
	if res.StatusCode != http.StatusOK {
		return forgeResponse{}, fmt.Errorf("GET %s: %s", redact(u), res.Status)
	}
	return forgeResponse{header: res.Header, body: body}, nil
}

// underBase reports whether u has base's scheme and host and a path
// under base's.
func underBase(u, base string) bool {
	pu, err1 := url.Parse(u)
	pb, err2 := url.Parse(base)
	if err1 != nil || err2 != nil {
		return false
	}
	return pu.Scheme == pb.Scheme && pu.User == nil && strings.EqualFold(pu.Host, pb.Host) &&
		(pu.Path == pb.Path || strings.HasPrefix(pu.Path, strings.TrimRight(pb.Path, "/")+"/"))
}

// redact drops a URL's query, which a forge's next link could use for a
// token.
func redact(u string) string {
	s, _, _ := strings.Cut(u, "?")
	return s
}

var linkNextRE = regexp.MustCompile(`<([^>]*)>\s*;[^,]*rel="?next"?`)

// nextLink returns the rel="next" target of a Link header, or "".
func nextLink(link string) string {
	if m := linkNextRE.FindStringSubmatch(link); m != nil {
		return m[1]
	}
	return ""
}
