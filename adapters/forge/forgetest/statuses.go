package forgetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// Forge names a forge's commit-status operation and its description.
type Forge struct {
	Name string
	// description is the file in testdata, base the path its
	// operations are under, and template the status operation's path.
	description, base, template string
}

// The forges whose commit statuses a StatusDouble takes.
var (
	GitHub    = Forge{Name: "github", description: "api.github.com.json", template: "/repos/{owner}/{repo}/statuses/{sha}"}
	Gitea     = Forge{Name: "gitea", description: "gitea.swagger.v1.json", base: "/api/v1", template: "/repos/{owner}/{repo}/statuses/{sha}"}
	GitLab    = Forge{Name: "gitlab", description: "gitlab.statuses.json", base: "/api/v4", template: "/projects/{id}/statuses/{sha}"}
	BitBucket = Forge{Name: "bitbucket", description: "bitbucket.statuses.json", base: "/2.0",
		template: "/repositories/{workspace}/{repo_slug}/commit/{commit}/statuses/build"}
)

// Received is one commit status a StatusDouble accepted.
type Received struct {
	Host, Path string
	Header     http.Header
	Body       map[string]any
}

// StatusDouble is a double of a forge's create-commit-status operation,
// served over TLS for any host (Client): a notifier's requests to
// https://api.github.com/… reach it unchanged.
type StatusDouble struct {
	*double
	forge                 Forge
	authHeader, authValue string
	accepted              []Received
}

// NewStatusDouble starts a double of forge's status operation that
// accepts requests whose authHeader is authValue (others get 401); the
// test's end stops it.
func NewStatusDouble(t testing.TB, forge Forge, authHeader, authValue string) *StatusDouble {
	t.Helper()
	d := &StatusDouble{double: newDouble(t, forge.description, forge.base, true), forge: forge, authHeader: authHeader, authValue: authValue}
	d.handle(http.MethodPost, forge.template, d.serveStatus)
	return d
}

// Accepted returns the statuses the double accepted, in order.
func (d *StatusDouble) Accepted() []Received {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Received(nil), d.accepted...)
}

func (d *StatusDouble) serveStatus(w http.ResponseWriter, r *http.Request, _ map[string]string) {
	if got := r.Header.Get(d.authHeader); got != d.authValue {
		d.refuse(w, http.StatusUnauthorized, fmt.Sprintf("%s header %q", d.authHeader, got))
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		d.refuse(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	d.mu.Lock()
	d.accepted = append(d.accepted, Received{Host: r.Host, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(body)
}
