// Package forgetest holds test doubles of forges' HTTP APIs (GitHub,
// GitLab, Gitea) for the pull-request and refs inputs. Each double is an
// httptest server that checks every request it is sent against the
// forge's published API description (testdata, see its README), and
// fails the test on one the real forge would not accept: an unknown
// path or method, a parameter of the wrong type or value, a query
// parameter the operation does not have.
package forgetest

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
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

// Request is what a double records of a request it served.
type Request struct {
	Method, Path string
	Query        url.Values
	Header       http.Header
}

var paramRE = regexp.MustCompile(`\{[^}]+\}`)

// route is one operation a double serves: its path template in the
// description and a pattern matching the request path after the base.
type route struct {
	method, template string
	pattern          *regexp.Regexp
	params           []string
	serve            func(w http.ResponseWriter, r *http.Request, p map[string]string)
}

// double is the server and validation the forge doubles share.
type double struct {
	t      testing.TB
	srv    *httptest.Server
	doc    *openapi3.T
	base   string // the description's base path: "", /api/v1, /api
	routes []route

	mu       sync.Mutex
	requests []Request
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

func newDouble(t testing.TB, description, base string) *double {
	t.Helper()
	doc, err := loadDescription(description)
	if err != nil {
		t.Fatalf("forge double: %v", err)
	}
	d := &double{t: t, doc: doc, base: base}
	d.srv = httptest.NewServer(http.HandlerFunc(d.serveHTTP))
	t.Cleanup(d.srv.Close)
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

// Requests returns the requests served so far.
func (d *double) Requests() []Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.requests)
}

func (d *double) serveHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	d.requests = append(d.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone()})
	d.mu.Unlock()
	for _, rt := range d.routes {
		m := rt.pattern.FindStringSubmatch(r.URL.Path)
		if m == nil || rt.method != r.Method {
			continue
		}
		params := map[string]string{}
		for i, name := range rt.params {
			params[name] = m[i+1]
		}
		if err := d.validate(r, rt, params); err != nil {
			d.t.Errorf("forge double: %s %s does not follow the forge's API description: %v", r.Method, r.URL, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rt.serve(w, r, params)
		return
	}
	d.t.Errorf("forge double: %s %s is no operation of the forge's API description that the double serves", r.Method, r.URL)
	http.NotFound(w, r)
}

// validate checks a request against its operation: parameters (path,
// query, header) by openapi3filter, and no query parameter the operation
// lacks.
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
