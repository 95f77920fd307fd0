package web

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
)

// queuePage lists the unfinished builds: a page of them for browsers,
// all of them for JSON clients, as Hydra's /queue answers.
func (s *server) queuePage(w http.ResponseWriter, r *http.Request) error {
	if wantsJSON(r) {
		return s.streamQueue(w, r, s.cfg.Queries.Queue)
	}
	pg, n := pageOf(r, 100)
	bs, err := s.cfg.Queries.Queue(r.Context(), pg)
	if err != nil {
		return err
	}
	total, err := s.cfg.Queries.QueueSize(r.Context())
	if err != nil {
		return err
	}
	s.respond(w, r, bs, "builds", &buildsPage{Title: "Queue (" + strconv.Itoa(total) + " builds)", Builds: bs,
		Page: n, More: n*pg.Limit < total, Empty: "The queue is empty: every build has finished."})
	return nil
}

func (s *server) queueSummary(w http.ResponseWriter, r *http.Request) error {
	rows, err := s.cfg.Queries.QueueSummary(r.Context())
	if err != nil {
		return err
	}
	s.respond(w, r, rows, "queue-summary", &queueSummaryPage{Rows: rows})
	return nil
}

// queueSummaryPage counts the queue by jobset and system
// (queue-summary.html).
type queueSummaryPage struct {
	page
	Rows []QueueSummary
}

// machinesPage answers JSON clients Hydra's map of the configured build
// machines, and shows browsers the machines that ran steps.
func (s *server) machinesPage(w http.ResponseWriter, r *http.Request) error {
	if wantsJSON(r) {
		ms, err := s.cfg.Queries.BuildMachines(r.Context())
		if err != nil {
			return err
		}
		s.json(w, http.StatusOK, machinesJSON(ms))
		return nil
	}
	ms, err := s.cfg.Queries.Machines(r.Context())
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "machines", &machinesPage{Machines: ms})
	return nil
}

// machinesPage lists the build machines and what they run
// (machines.html).
type machinesPage struct {
	page
	Machines []Machine
}

func (s *server) stepsPage(w http.ResponseWriter, r *http.Request) error {
	pg, n := pageOf(r, 50)
	steps, err := s.cfg.Queries.LatestSteps(r.Context(), pg)
	if err != nil {
		return err
	}
	s.respond(w, r, steps, "steps", &stepsPage{Steps: steps, Page: n, More: len(steps) == pg.Limit})
	return nil
}

// stepsPage is a list of steps: those running (status.html) or the
// latest finished, a page of them (steps.html).
type stepsPage struct {
	page
	Steps []BuildStep
	Page  int
	More  bool
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

func (s *server) search(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query().Get("query")
	if q == "" {
		if wantsJSON(r) {
			return errBadRequest("missing query")
		}
		s.render(w, r, http.StatusOK, "search", &searchPage{})
		return nil
	}
	switch {
	case !searchRE.MatchString(q):
		return errBadRequest("invalid character in query")
	case len(q) < minSearch:
		// A substring of one character matches nearly every row.
		return errBadRequest("query must have at least %d characters", minSearch)
	case len(q) > maxSearch:
		return errBadRequest("query must have at most %d characters", maxSearch)
	}
	res, err := s.cfg.Queries.Search(r.Context(), q, queryInt(r, "limit", 10, MaxSearchRows))
	if err != nil {
		return err
	}
	s.respond(w, r, res, "search", &searchPage{Query: q, Result: &res})
	return nil
}

// searchPage is the search form with, once a query is given, what it
// found (search.html).
type searchPage struct {
	page
	Query  string
	Result *SearchResult
}

// apiNr reads the nr parameter /api/latestbuilds and /api/queue
// require, as Hydra does.
func apiNr(r *http.Request) (int, error) {
	nr, err := strconv.Atoi(r.URL.Query().Get("nr"))
	if err != nil || nr < 1 || nr > 1000 {
		return 0, errBadRequest("parameter nr must be a number from 1 to 1000")
	}
	return nr, nil
}

// apiLatestBuilds sends the nr newest finished builds as Hydra's build
// summaries.
func (s *server) apiLatestBuilds(w http.ResponseWriter, r *http.Request) error {
	nr, err := apiNr(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	fin := true
	bs, err := s.cfg.Queries.Builds(r.Context(), BuildFilter{Project: q.Get("project"), Jobset: q.Get("jobset"),
		Job: q.Get("job"), System: q.Get("system"), Finished: &fin, Page: Page{Limit: nr}})
	if err != nil {
		return err
	}
	s.json(w, http.StatusOK, summarize(bs))
	return nil
}

func (s *server) apiJobsets(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("project")
	if name == "" {
		return errBadRequest("missing parameter project")
	}
	if _, err := s.cfg.Queries.Project(r.Context(), name); err != nil {
		return err
	}
	js, err := s.cfg.Queries.JobsetOverviews(r.Context(), name)
	if err != nil {
		return err
	}
	s.json(w, http.StatusOK, js)
	return nil
}

// apiQueue sends the first nr unfinished builds by priority, as Hydra's
// build summaries.
func (s *server) apiQueue(w http.ResponseWriter, r *http.Request) error {
	nr, err := apiNr(r)
	if err != nil {
		return err
	}
	bs, err := s.cfg.Queries.QueueByPriority(r.Context(), Page{Limit: nr})
	if err != nil {
		return err
	}
	s.json(w, http.StatusOK, summarize(bs))
	return nil
}

// streamQueue answers every unfinished build, in list's order, as one
// JSON array, a batch at a time.
func (s *server) streamQueue(w http.ResponseWriter, r *http.Request, list func(context.Context, Page) ([]Build, error)) error {
	arr := newJSONArray(w)
	var err error
	for off := 0; ; off += buildBatch {
		var bs []Build
		if bs, err = list(r.Context(), Page{Offset: off, Limit: buildBatch}); err != nil {
			break
		}
		if err = arr.add(anySlice(bs)...); err != nil || len(bs) < buildBatch {
			break
		}
	}
	return s.endStream(r, arr, err)
}

func anySlice[T any](l []T) []any {
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = v
	}
	return out
}

func (s *server) apiNrQueue(w http.ResponseWriter, r *http.Request) error {
	n, err := s.cfg.Queries.QueueSize(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(strconv.Itoa(n)))
	return nil
}
