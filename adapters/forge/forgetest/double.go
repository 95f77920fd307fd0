// Package forgetest holds test doubles of the forges' HTTP APIs (GitHub,
// Gitea, GitLab, Bitbucket), since no forge can run here: the pull-request
// and refs doubles the inputs read (pulls.go) and the commit-status
// doubles the notifier writes to (statuses.go). They share one server and
// validation core (double): every request is checked against the forge's
// published API description (testdata, see its README), and one the real
// forge would not accept fails the test with a 4xx (an unknown path or
// method, a parameter or body of the wrong type or value, a query
// parameter the operation does not have). A double can be told to fail
// the next requests: answer 500, or hang until the client gives up.
package forgetest

import (
	"bytes"
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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

//go:embed testdata/*.json
var descriptions embed.FS

// Request is what a double records of a request it received.
type Request struct {
	Method, Host, Path string
	Query              url.Values
	Header             http.Header
	Body               []byte
}

// Fault is what a double does with the next request instead of serving
// it.
type Fault int

const (
	// Fail500 answers 500 Internal Server Error.
	Fail500 Fault = iota + 1
	// Hang answers nothing until the client gives up.
	Hang
)

var paramRE = regexp.MustCompile(`\{[^}]+\}`)

// route is one operation a double serves: its path template in the
// description and a pattern matching the request path after the base.
type route struct {
	method, template string
	pattern          *regexp.Regexp
	params           []string
	serve            func(w http.ResponseWriter, r *http.Request, p map[string]string)
}

// double is the server and validation every forge double shares.
type double struct {
	t      testing.TB
	srv    *httptest.Server
	doc    *openapi3.T
	base   string // the description's base path: "", /api/v1, /api
	routes []route

	mu       sync.Mutex
	requests []Request
	refused  []string
	faults   []Fault
	hung     chan struct{}
}

// loadDescription reads a description from testdata: OpenAPI 3 as is,
// Swagger 2 converted.
func loadDescription(name string) (*openapi3.T, error) {
	data, err := descriptions.ReadFile("testdata/" + name)
	if err != nil {
		return nil, err
	}
	var probe struct {
		Swagger string `json:"swagger"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if probe.Swagger == "" {
		doc, err := openapi3.NewLoader().LoadFromData(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		// GitHub's own examples do not all match its schemas; the
		// description's structure is what the requests are checked by.
		return doc, doc.Validate(context.Background(), openapi3.DisableExamplesValidation())
	}
	var v2 openapi2.T
	if err := json.Unmarshal(data, &v2); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	doc, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return doc, doc.Validate(context.Background())
}

// newDouble starts a double of description, whose operations are under
// base; over TLS when secure (the double then answers for any host, see
// Client), else plain HTTP at URL.
func newDouble(t testing.TB, description, base string, secure bool) *double {
	t.Helper()
	doc, err := loadDescription(description)
	if err != nil {
		t.Fatalf("forge double: %v", err)
	}
	d := &double{t: t, doc: doc, base: base, hung: make(chan struct{})}
	if secure {
		d.srv = httptest.NewTLSServer(http.HandlerFunc(d.serveHTTP))
	} else {
		d.srv = httptest.NewServer(http.HandlerFunc(d.serveHTTP))
	}
	t.Cleanup(func() { close(d.hung); d.srv.Close() })
	return d
}

// handle adds an operation; template must be a path of the description
// and have the method.
func (d *double) handle(method, template string, serve func(http.ResponseWriter, *http.Request, map[string]string)) {
	item := d.doc.Paths.Value(template)
	if item == nil || item.GetOperation(method) == nil {
		d.t.Fatalf("forge double: %s %s is not in the description", method, template)
	}
	var params []string
	var re strings.Builder
	rest := template
	for _, loc := range paramRE.FindAllStringIndex(template, -1) {
		name := template[loc[0]+1 : loc[1]-1]
		params = append(params, name)
		re.WriteString(regexp.QuoteMeta(template[len(template)-len(rest) : loc[0]]))
		if name == "ref" {
			re.WriteString("(.+)") // GitHub's git refs hold slashes: heads/main
		} else {
			re.WriteString("([^/]+)")
		}
		rest = template[loc[1]:]
	}
	re.WriteString(regexp.QuoteMeta(rest))
	d.routes = append(d.routes, route{method: method, template: template,
		pattern: regexp.MustCompile("^" + regexp.QuoteMeta(d.base) + re.String() + "$"), params: params, serve: serve})
}

// URL is the forge's address: what an operator configures (GitHub's
// API endpoint, a GitLab's or Gitea's base URL).
func (d *double) URL() string { return d.srv.URL }

// Client returns an HTTP client that reaches a TLS double whatever host
// a URL names (https://api.github.com/… included) and trusts its
// certificate.
func (d *double) Client() *http.Client {
	addr := d.srv.Listener.Addr().String()
	tr := d.srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	if tr.TLSClientConfig != nil {
		tr.TLSClientConfig = tr.TLSClientConfig.Clone()
		tr.TLSClientConfig.InsecureSkipVerify = true // the double's certificate names 127.0.0.1, not the forge
		tr.TLSClientConfig.MinVersion = tls.VersionTLS12
	}
	return &http.Client{Transport: tr}
}

// Inject makes the next requests meet faults, in order.
func (d *double) Inject(faults ...Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.faults = append(d.faults, faults...)
}

// Requests returns the requests received so far, faulted and refused
// ones included.
func (d *double) Requests() []Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.requests)
}

// Refused returns why requests were refused: a request the description
// does not allow (which also fails the test), or one a double's handler
// refused (wrong credentials).
func (d *double) Refused() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.refused)
}

func (d *double) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		d.refuse(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	d.mu.Lock()
	d.requests = append(d.requests, Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body})
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
	for _, rt := range d.routes {
		m := rt.pattern.FindStringSubmatch(r.URL.Path)
		if m == nil || rt.method != r.Method {
			continue
		}
		params := map[string]string{}
		for i, name := range rt.params {
			params[name] = m[i+1]
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := d.validate(r, rt, params); err != nil {
			d.t.Errorf("forge double: %s %s does not follow the forge's API description: %v", r.Method, r.URL, err)
			d.refuse(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rt.serve(w, r, params)
		return
	}
	d.t.Errorf("forge double: %s %s is no operation of the forge's API description that the double serves", r.Method, r.URL)
	d.refuse(w, http.StatusNotFound, r.Method+" "+r.URL.Path+" is no operation the double serves")
}

// validate checks a request against its operation: parameters (path,
// query, header) and body by openapi3filter, and no query parameter the
// operation lacks.
func (d *double) validate(r *http.Request, rt route, params map[string]string) error {
	item := d.doc.Paths.Value(rt.template)
	op := item.GetOperation(rt.method)
	declared := map[string]bool{}
	for _, ps := range [][]*openapi3.ParameterRef{item.Parameters, op.Parameters} {
		for _, p := range ps {
			if p.Value.In == openapi3.ParameterInQuery {
				declared[p.Value.Name] = true
			}
		}
	}
	for k := range r.URL.Query() {
		if !declared[k] {
			return fmt.Errorf("query parameter %q is not one of the operation's", k)
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      &routers.Route{Spec: d.doc, Path: rt.template, PathItem: item, Method: rt.method, Operation: op},
		Options: &openapi3filter.Options{
			// Who may read what is the double's to decide (its tokens),
			// not the description's.
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
			MultiError:         true,
		},
	}
	return openapi3filter.ValidateRequest(r.Context(), in)
}

// refuse answers code with why, and remembers why.
func (d *double) refuse(w http.ResponseWriter, code int, why string) {
	d.mu.Lock()
	d.refused = append(d.refused, why)
	d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": why})
}

// page serves items one page at a time: page and size come from the
// query (names of the forge's), and a Link header with rel="next" points
// to the next page, as the three forges do.
func (d *double) page(w http.ResponseWriter, r *http.Request, items []any, pageParam, sizeParam string, defaultSize int) {
	q := r.URL.Query()
	size, _ := strconv.Atoi(q.Get(sizeParam))
	if size <= 0 {
		size = defaultSize
	}
	page, _ := strconv.Atoi(q.Get(pageParam))
	if page <= 0 {
		page = 1
	}
	from := min((page-1)*size, len(items))
	to := min(from+size, len(items))
	if to < len(items) {
		q.Set(pageParam, strconv.Itoa(page+1))
		next := d.srv.URL + r.URL.Path + "?" + q.Encode()
		w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next"`, next))
	}
	writeJSON(w, items[from:to])
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
