// Package forgetest holds forge test doubles: HTTPS servers that stand in
// for GitHub, Gitea, GitLab and Bitbucket in tests, since no forge can run
// here. A Double validates every request against the forge's published
// OpenAPI description (trimmed copies in testdata/, see its README),
// checks the credentials, records what it accepted, and can be told to
// fail: answer 500, or hang until the client gives up.
package forgetest

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

//go:embed testdata/*.json
var specs embed.FS

// Forge names a forge and its description.
type Forge struct {
	Name string
	// spec is the file in testdata; swagger2 marks a Swagger 2.0 one.
	spec     string
	swagger2 bool
	// base is the path the description's operations are under.
	base string
}

// The forges.
var (
	GitHub    = Forge{Name: "github", spec: "github.json"}
	Gitea     = Forge{Name: "gitea", spec: "gitea.json", swagger2: true, base: "/api/v1"}
	GitLab    = Forge{Name: "gitlab", spec: "gitlab.json", base: "/api/v4"}
	BitBucket = Forge{Name: "bitbucket", spec: "bitbucket.json", base: "/2.0"}
)

// Fault is what the double does with the next request instead of
// accepting it.
type Fault int

const (
	// Fail500 answers 500 Internal Server Error.
	Fail500 Fault = iota + 1
	// Hang answers nothing until the client gives up.
	Hang
)

// Received is one accepted request.
type Received struct {
	Host, Path string
	Header     http.Header
	Body       map[string]any
}

// Double is a forge test double.
type Double struct {
	forge  Forge
	srv    *httptest.Server
	router routers.Router
	// Auth is the header the forge's credentials come in, and the value
	// the double accepts.
	authHeader, authValue string

	mu       sync.Mutex
	faults   []Fault
	requests int
	accepted []Received
	refused  []string
	hung     chan struct{}
}

// New starts a double of forge that accepts requests whose authHeader is
// authValue.
func New(t testing.TB, forge Forge, authHeader, authValue string) *Double {
	t.Helper()
	doc, err := load(forge)
	if err != nil {
		t.Fatalf("forgetest: %s description: %v", forge.Name, err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("forgetest: %s router: %v", forge.Name, err)
	}
	d := &Double{forge: forge, router: router, authHeader: authHeader, authValue: authValue, hung: make(chan struct{})}
	d.srv = httptest.NewTLSServer(http.HandlerFunc(d.serve))
	t.Cleanup(func() { close(d.hung); d.srv.Close() })
	return d
}

// load reads the forge's description, converted to OpenAPI 3, with its
// servers made relative: the double answers for any host.
func load(f Forge) (*openapi3.T, error) {
	raw, err := specs.ReadFile("testdata/" + f.spec)
	if err != nil {
		return nil, err
	}
	var doc *openapi3.T
	if f.swagger2 {
		var v2 openapi2.T
		if err := json.Unmarshal(raw, &v2); err != nil {
			return nil, err
		}
		if doc, err = openapi2conv.ToV3(&v2); err != nil {
			return nil, err
		}
	} else if doc, err = openapi3.NewLoader().LoadFromData(raw); err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	base := f.base
	if base == "" {
		base = "/"
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	return doc, nil
}

// Client returns an HTTP client that reaches the double whatever host a
// URL names (https://api.github.com/… included) and trusts its
// certificate.
func (d *Double) Client() *http.Client {
	addr := d.srv.Listener.Addr().String()
	tr := d.srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	tr.TLSClientConfig = tr.TLSClientConfig.Clone()
	tr.TLSClientConfig.InsecureSkipVerify = true // the double's certificate names 127.0.0.1, not the forge
	tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	return &http.Client{Transport: tr}
}

// Inject makes the next requests meet faults, in order.
func (d *Double) Inject(faults ...Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults = append(d.faults, faults...)
}

// Requests counts the requests the double received, faulted and refused
// ones included.
func (d *Double) Requests() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.requests
}

// Accepted returns the requests the double accepted.
func (d *Double) Accepted() []Received {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Received(nil), d.accepted...)
}

// Refused returns why the double refused requests (an invalid request,
// wrong credentials).
func (d *Double) Refused() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.refused...)
}

func (d *Double) serve(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.requests++
	var fault Fault
	if len(d.faults) > 0 {
		fault, d.faults = d.faults[0], d.faults[1:]
	}
	d.mu.Unlock()
	switch fault {
	case Fail500:
		http.Error(w, `{"message":"injected failure"}`, http.StatusInternalServerError)
		return
	case Hang:
		select {
		case <-r.Context().Done():
		case <-d.hung:
		}
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		d.refuse(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if err := d.validate(r, body); err != nil {
		d.refuse(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	if got := r.Header.Get(d.authHeader); got != d.authValue {
		d.refuse(w, http.StatusUnauthorized, fmt.Sprintf("%s header %q", d.authHeader, got))
		return
	}
	var parsed map[string]any
	_ = json.Unmarshal(body, &parsed)
	d.mu.Lock()
	d.accepted = append(d.accepted, Received{Host: r.Host, Path: r.URL.Path, Header: r.Header.Clone(), Body: parsed})
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(body)
}

// validate checks r against the description.
func (d *Double) validate(r *http.Request, body []byte) error {
	u := *r.URL
	u.Scheme, u.Host = "", ""
	req := r.Clone(r.Context())
	req.URL = &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	route, params, err := d.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s is no operation of the %s API: %w", r.Method, r.URL.Path, d.forge.Name, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		return fmt.Errorf("%s %s does not follow the %s API: %w", r.Method, r.URL.Path, d.forge.Name, err)
	}
	return nil
}

func (d *Double) refuse(w http.ResponseWriter, code int, why string) {
	d.mu.Lock()
	d.refused = append(d.refused, why)
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": why})
}
