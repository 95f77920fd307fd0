package web_test

import (
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite web/testdata/golden from the pages as they are now")

// goldenCase is one request whose answer, status line and body, is
// kept in testdata/golden/<name>.golden.
type goldenCase struct {
	name, user, method, path string
	// html asks for HTML (Accept: text/html), else JSON.
	html bool
	// form is posted as a form; body as JSON.
	form url.Values
	body any
	hdr  []string
}

// TestPagesGolden keeps every page and every JSON body the web builds
// for itself byte for byte: each template with each of its branches that
// the seed reaches (signed in or not, owner or not, empty or not), the
// error page, and the bodies of actions. Run with -update-golden after a
// deliberate change, and read the diff.
func TestPagesGolden(t *testing.T) {
	e := newEnv(t, envOpts{insights: true})
	cases := []goldenCase{}
	page := func(name, user, path string) {
		cases = append(cases, goldenCase{name: name, user: user, method: "GET", path: path, html: true})
	}
	for _, p := range []struct{ name, path string }{
		{"projects", "/"}, {"project", "/project/p"}, {"jobset", "/jobset/p/j"}, {"eval-2", "/eval/2"}, {"eval-1", "/eval/1"},
		{"build-1", "/build/1"}, {"build-3", "/build/3"}, {"build-5", "/build/5"}, {"queue", "/queue"},
		{"log-build-1", "/build/1/log"}, {"log-build-3", "/build/3/log"}, {"log-step", "/build/1/step/1/log"},
		{"graph-eval", "/eval/2/graph"}, {"graph-build", "/build/5/graph"},
		{"events-build", "/build/1/events"}, {"events-project", "/project/p/events"}, {"events-jobset", "/jobset/p/j/events"},
		{"events-eval", "/eval/2/events"}, {"machines", "/machines"}, {"steps", "/steps"}, {"status", "/status"},
		{"search-hit", "/search?query=hello"}, {"search-none", "/search?query=zzz"}, {"search-form", "/search"},
		{"users", "/admin/users"}, {"user-self", "/user/admin"}, {"user-other", "/user/member"}, {"tokens", "/user/admin/tokens"},
		{"jobset-evals", "/jobset/p/j/evals"}, {"evals", "/evals"}, {"queue-summary", "/queue-summary"},
		{"dashboard", "/dashboard/owner"}, {"dashboard-empty", "/dashboard/nobody"},
		{"eval-builds", "/eval/2/builds"}, {"eval-errors", "/eval/2/errors"}, {"jobset-errors", "/jobset/p/j/errors"},
		{"job", "/job/p/j/hello"}, {"metric", "/job/p/j/hello/metric/lines"}, {"constituents", "/build/1/constituents"},
		{"all-builds", "/jobset/p/j/all"}, {"channel", "/jobset/p/j/channel/latest"},
		{"create-project", "/create-project"}, {"edit-project", "/project/p/edit"},
		{"create-jobset", "/project/p/create-jobset"}, {"edit-jobset", "/jobset/p/j/edit"},
		{"why", "/build/3/why"}, {"attempts", "/step/attempts?drv=" + drv("hello-1")},
		{"blast-radius", "/step/blast-radius?drv=" + drv("lib-9")}, {"flaky", "/insights/flaky"},
		{"non-reproducible", "/insights/non-reproducible"}, {"eval-latency", "/insights/eval-latency"},
		{"step", "/build/1/step/1"}, {"robots", "/robots.txt"},
		{"not-found", "/nope"},
	} {
		page(p.name, "admin", p.path)
	}
	for _, p := range []string{"/", "/project/p", "/jobset/p/j", "/build/1", "/build/3", "/eval/2", "/login", "/login?next=/jobset/p/j"} {
		page("anon"+strings.ReplaceAll(strings.NewReplacer("?", "-", "=", "-").Replace(p), "/", "-"), "", p)
	}
	page("anon-login-required", "", "/user/admin/tokens")
	page("owner-project", "owner", "/project/p")
	page("owner-build-3", "owner", "/build/3")
	page("owner-eval-2", "owner", "/eval/2")
	page("member-user", "member", "/user/member")
	page("member-jobset", "member", "/jobset/p/j")
	page("creator-projects", "creator", "/")

	api := func(name, user, method, path string, body any, hdr ...string) {
		cases = append(cases, goldenCase{name: name, user: user, method: method, path: path, body: body, hdr: hdr})
	}
	api("json-shield", "", "GET", "/job/p/j/hello/shield", nil)
	api("json-shield-missing", "", "GET", "/job/p/j/nope/shield", nil)
	api("json-eval-errors", "admin", "GET", "/eval/2/errors", nil)
	api("json-jobset-errors", "admin", "GET", "/jobset/p/j/errors", nil)
	api("json-graph-eval", "admin", "GET", "/eval/2/graph", nil)
	api("json-graph-build", "admin", "GET", "/build/5/graph", nil)
	api("json-not-found", "admin", "GET", "/nope", nil)
	api("json-field-error", "admin", "PUT", "/jobset/p/j", map[string]any{"name": "other"})
	api("json-create-project", "admin", "PUT", "/project/q", map[string]any{"displayname": "Q", "enabled": true, "visible": true})
	api("json-create-jobset", "admin", "PUT", "/jobset/q/main", map[string]any{"nixexprinput": "src", "nixexprpath": "release.nix",
		"enabled": 1, "checkinterval": 60, "schedulingshares": 10, "keepnr": 2,
		"inputs": map[string]any{"src": map[string]any{"type": "git", "value": "https://example.org/q.git"}}})
	api("json-create-user", "admin", "POST", "/admin/users", map[string]any{"username": "zed", "emailaddress": "zed@example.org",
		"password": testPassword})
	api("json-disable-user", "admin", "POST", "/user/zed/disable", nil)
	api("json-restart-failed", "admin", "POST", "/eval/2/restart-failed", nil)
	api("json-bump", "admin", "POST", "/build/3/bump", nil)
	api("json-delete-project", "admin", "DELETE", "/project/q", nil)
	api("json-push", "evaluator", "POST", "/api/push?jobsets=p:j", nil)
	gh := `{"after":"aaa","repository":{"full_name":"acme/widget"}}`
	for _, name := range []string{"json-push-github", "json-push-github-duplicate"} {
		api(name, "", "POST", "/api/push-github", gh, "X-Hub-Signature-256", "sha256="+signBody("gh-secret", gh), "X-GitHub-Delivery", "d-1")
	}
	cases = append(cases,
		goldenCase{name: "form-login-refused", method: "POST", path: "/login", html: true,
			form: url.Values{"username": {"admin"}, "password": {"wrong"}, "next": {"/jobset/p/j"}}},
		goldenCase{name: "form-create-token", user: "admin", method: "POST", path: "/user/admin/tokens", html: true,
			form: url.Values{"name": {"laptop"}, "scope": {"read"}}},
		goldenCase{name: "tokens-after", user: "admin", method: "GET", path: "/user/admin/tokens", html: true},
		// After the page: two tokens made at the same instant list in
		// the order of their random ids.
		goldenCase{name: "json-create-token", user: "admin", method: "POST", path: "/user/admin/tokens",
			body: map[string]any{"name": "ci", "scope": "eval"}},
	)

	clients := map[string]*client{}
	for _, c := range cases {
		cl, ok := clients[c.user]
		if !ok {
			cl = e.as(c.user)
			clients[c.user] = cl
		}
		var res response
		switch {
		case c.form != nil:
			res = cl.do(c.method, c.path, c.form.Encode(), append([]string{"Accept", "text/html",
				"Content-Type", "application/x-www-form-urlencoded"}, c.hdr...)...)
		case c.html:
			res = cl.do(c.method, c.path, c.body, append([]string{"Accept", "text/html"}, c.hdr...)...)
		default:
			res = cl.do(c.method, c.path, c.body, c.hdr...)
		}
		got := strconv.Itoa(res.code) + " " + res.header.Get("Content-Type") + "\n" + normalize(e, res.body)
		file := filepath.Join("testdata", "golden", c.name+".golden")
		if *updateGolden {
			require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
			require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
			continue
		}
		want, err := os.ReadFile(file)
		require.NoError(t, err, "run go test ./web -run TestPagesGolden -update-golden")
		require.Equal(t, string(want), got, "%s %s as %q", c.method, c.path, c.user)
	}
}

// secret matches the API token a creation shows once, id the ids of
// tokens (random in part), and wallTime the times the log records with
// the store's clock, not the test's (which is in 2023).
var (
	secret   = regexp.MustCompile(`blt_[A-Za-z0-9_-]+`)
	id       = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	wallTime = regexp.MustCompile(`20(2[4-9]|[3-9][0-9])-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(Z| UTC)`)
)

// normalize takes out of body what differs from run to run: the
// temporary directories, the server's address and fresh secrets.
func normalize(e *env, body string) string {
	body = strings.NewReplacer(e.storeDir, "$STORE", e.logs.Dir(), "$LOGS", e.srv.URL, "$URL").Replace(body)
	body = secret.ReplaceAllString(body, "$$TOKEN")
	body = id.ReplaceAllString(body, "$$ID")
	return wallTime.ReplaceAllString(body, "$$WALLTIME")
}
