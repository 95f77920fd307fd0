package web

import (
	"html/template"
	"net/http"
	"sort"
	"strconv"
)

// graphNode is a derivation in the rendered build graph.
type graphNode struct {
	GraphNode
	Name   string       `json:"name"`
	Inputs []*graphNode `json:"inputs,omitempty"`
	// Seen marks a node already shown higher up (its inputs are not
	// repeated).
	Seen bool `json:"seen,omitempty"`
	// BlockedBy lists unfinished inputs; FailedBecause the failed
	// derivation that stops it, if any.
	BlockedBy     []string `json:"blockedby,omitempty"`
	FailedBecause string   `json:"failedbecause,omitempty"`
	Class         string   `json:"-"`
	State         string   `json:"state"`
}

func nodeState(n GraphNode) (string, string) {
	switch {
	case !n.Known:
		return "built", "ok"
	case n.Busy != 0:
		return "running", "running"
	case n.Status == nil:
		return "queued", "queued"
	case *n.Status == 0:
		return "succeeded", "ok"
	}
	return statusWord(*n.Status), codeClass(*n.Status)
}

// buildGraphTree turns the flat graph into trees rooted at roots, and
// works out for each node what blocks it and which failure stops it.
func buildGraphTree(nodes []GraphNode, edges []GraphEdge, roots []string) []*graphNode {
	byDrv := map[string]GraphNode{}
	for _, n := range nodes {
		byDrv[n.DrvPath] = n
	}
	inputs := map[string][]string{}
	for _, e := range edges {
		inputs[e.DrvPath] = append(inputs[e.DrvPath], e.InputDrv)
	}
	for _, l := range inputs {
		sort.Strings(l)
	}
	// failedCause memoises the first failed derivation in a closure.
	cause := map[string]string{}
	visiting := map[string]bool{}
	var failedCause func(string) string
	failedCause = func(d string) string {
		if c, ok := cause[d]; ok {
			return c
		}
		if visiting[d] {
			return ""
		}
		visiting[d] = true
		c := ""
		for _, in := range inputs[d] {
			n := byDrv[in]
			if n.Known && n.Status != nil && *n.Status != 0 {
				c = in
				break
			}
			if c = failedCause(in); c != "" {
				break
			}
		}
		cause[d] = c
		return c
	}
	shown := map[string]bool{}
	var walk func(d string, depth int) *graphNode
	walk = func(d string, depth int) *graphNode {
		n := byDrv[d]
		n.DrvPath = d
		g := &graphNode{GraphNode: n, Name: shortPath(d)}
		g.State, g.Class = nodeState(n)
		if shown[d] || depth > 50 {
			g.Seen = true
			return g
		}
		shown[d] = true
		for _, in := range inputs[d] {
			ni := byDrv[in]
			if ni.Known && (ni.Status == nil || ni.Busy != 0) {
				g.BlockedBy = append(g.BlockedBy, in)
			}
			g.Inputs = append(g.Inputs, walk(in, depth+1))
		}
		if n.Status == nil || *n.Status != 0 {
			g.FailedBecause = failedCause(d)
		}
		return g
	}
	out := []*graphNode{}
	for _, r := range roots {
		out = append(out, walk(r, 0))
	}
	return out
}

func (s *server) graphFor(w http.ResponseWriter, r *http.Request, evalID int64, roots []string, title, back string) error {
	nodes, edges, err := s.cfg.Queries.EvalGraph(r.Context(), evalID)
	if err != nil {
		return err
	}
	if roots == nil {
		has := map[string]bool{}
		for _, e := range edges {
			has[e.InputDrv] = true
		}
		for _, n := range nodes {
			if !has[n.DrvPath] {
				roots = append(roots, n.DrvPath)
			}
		}
	}
	tree := buildGraphTree(nodes, edges, roots)
	s.respond(w, r, graphJSON{Edges: edges, Nodes: nodes}, "graph",
		&graphPage{Title: title, Back: back, Tree: tree, NrNodes: len(nodes), SVG: graphSVG(nodes, edges, roots)})
	return nil
}

// graphJSON is the answer of the build graph routes.
type graphJSON struct {
	Edges []GraphEdge `json:"edges"`
	Nodes []GraphNode `json:"nodes"`
}

// graphPage is a build graph drawn and as a tree (graph.html).
type graphPage struct {
	page
	Title, Back string
	Tree        []*graphNode
	NrNodes     int
	SVG         template.HTML
}

func (s *server) evalGraph(w http.ResponseWriter, r *http.Request) error {
	e, err := s.loadEval(r)
	if err != nil {
		return err
	}
	id := strconv.FormatInt(e.ID, 10)
	return s.graphFor(w, r, e.ID, nil, "Build graph of evaluation "+id, "/eval/"+id)
}

func (s *server) buildGraph(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	id := strconv.FormatInt(b.ID, 10)
	if len(b.JobsetEvals) == 0 {
		return errNotFound("evaluation of build " + id)
	}
	return s.graphFor(w, r, b.JobsetEvals[len(b.JobsetEvals)-1], []string{b.DrvPath}, "Build graph of build "+id, "/build/"+id)
}
