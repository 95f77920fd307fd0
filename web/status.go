package web

import (
	"net/http"
	"regexp"
	"strconv"
)

func (s *server) queuePage(w http.ResponseWriter, r *http.Request) {
	pg, n := pageOf(r, 100)
	bs, err := s.cfg.Queries.Queue(r.Context(), pg)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	total, err := s.cfg.Queries.QueueSize(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, r, bs, "builds", map[string]any{"Title": "Queue (" + strconv.Itoa(total) + " builds)", "Builds": bs,
		"Page": n, "More": n*pg.Limit < total, "Empty": "The queue is empty: every build has finished."})
}

func (s *server) queueSummary(w http.ResponseWriter, r *http.Request) {
	rows, err := s.cfg.Queries.QueueSummary(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, r, rows, "queue-summary", map[string]any{"Rows": rows})
}

func (s *server) machinesPage(w http.ResponseWriter, r *http.Request) {
	ms, err := s.cfg.Queries.Machines(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, r, ms, "machines", map[string]any{"Machines": ms})
}

func (s *server) stepsPage(w http.ResponseWriter, r *http.Request) {
	pg, n := pageOf(r, 50)
	steps, err := s.cfg.Queries.LatestSteps(r.Context(), pg)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, r, steps, "steps", map[string]any{"Steps": steps, "Page": n, "More": len(steps) == pg.Limit})
}

var searchRE = regexp.MustCompile(`^[a-zA-Z0-9_\-/.]+$`)

// /search answers at most MaxSearchRows rows per section (projects,
// jobsets, builds, buildsdrv), 10 unless ?limit= asks for more, as
// Hydra does. A query is 2 to 256 characters: a store path fits.
const (
	MaxSearchRows = 50
	minSearch     = 2
	maxSearch     = 256
)

func (s *server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("query")
	if q == "" {
		if wantsJSON(r) {
			s.fail(w, r, errBadRequest("missing query"))
			return
		}
		s.render(w, r, http.StatusOK, "search", map[string]any{})
		return
	}
	switch {
	case !searchRE.MatchString(q):
		s.fail(w, r, errBadRequest("invalid character in query"))
		return
	case len(q) < minSearch:
		// A substring of one character matches nearly every row.
		s.fail(w, r, errBadRequest("query must have at least %d characters", minSearch))
		return
	case len(q) > maxSearch:
		s.fail(w, r, errBadRequest("query must have at most %d characters", maxSearch))
		return
	}
	res, err := s.cfg.Queries.Search(r.Context(), q, queryInt(r, "limit", 10, MaxSearchRows))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, r, res, "search", map[string]any{"Query": q, "Result": res})
}

func (s *server) apiLatestBuilds(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fin := true
	bs, err := s.cfg.Queries.Builds(r.Context(), BuildFilter{Project: q.Get("project"), Jobset: q.Get("jobset"),
		Job: q.Get("job"), System: q.Get("system"), Finished: &fin, Page: Page{Limit: queryInt(r, "nr", 10, 1000)}})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.json(w, http.StatusOK, bs)
}

func (s *server) apiJobsets(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("project")
	if name == "" {
		s.fail(w, r, errBadRequest("missing parameter project"))
		return
	}
	if _, err := s.cfg.Queries.Project(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	js, err := s.cfg.Queries.JobsetOverviews(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.json(w, http.StatusOK, js)
}

func (s *server) apiQueue(w http.ResponseWriter, r *http.Request) {
	bs, err := s.cfg.Queries.Queue(r.Context(), Page{Limit: queryInt(r, "nr", 100, 1000)})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.json(w, http.StatusOK, bs)
}

func (s *server) apiNrQueue(w http.ResponseWriter, r *http.Request) {
	n, err := s.cfg.Queries.QueueSize(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(strconv.Itoa(n)))
}
