package web

import (
	"maps"
	"net/http"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// Hydra's limits on the jobs tab: it reads the builds of the newest
// evaluations until it has this many, and lists at most maxTabJobs jobs
// unless filtered.
const (
	maxTabBuilds = 10000
	maxTabJobs   = 250
)

// Class is the badge class of a cell.
func (b MatrixBuild) Class() string {
	switch {
	case !bool(b.Finished):
		return "queued"
	case b.BuildStatus == nil:
		return "unknown"
	}
	return codeClass(*b.BuildStatus)
}

// jobMatrixJSON is Hydra's stash of the jobs and channels tabs.
type jobMatrixJSON struct {
	Evals    map[string]MatrixEval `json:"evals"`
	Jobs     []string              `json:"jobs,omitempty"`
	NrJobs   *int                  `json:"nrJobs,omitempty"`
	Filter   *string               `json:"filter,omitempty"`
	Channels []string              `json:"channels,omitempty"`
}

// jobMatrixPage is a jobset's jobs or channels by evaluation
// (job-matrix.html).
type jobMatrixPage struct {
	page
	Project, Jobset string
	Channels        bool
	Filter          string
	Evals           []MatrixEval
	Names           []string
	// More is how many jobs are not shown.
	More int
}

// jobsTab is Hydra's /jobset/<p>/<j>/jobs-tab: the jobs of the newest
// evaluations with new builds (at most 250 unless ?filter= narrows them),
// with each one's build in each evaluation.
func (s *server) jobsTab(w http.ResponseWriter, r *http.Request) error {
	return s.jobMatrix(w, r, false)
}

// channelsTab is Hydra's /jobset/<p>/<j>/channels-tab: the channel jobs
// of the newest evaluations with new builds, each linking to its custom
// channel.
func (s *server) channelsTab(w http.ResponseWriter, r *http.Request) error {
	return s.jobMatrix(w, r, true)
}

func (s *server) jobMatrix(w http.ResponseWriter, r *http.Request, channels bool) error {
	p, j := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	if _, err := s.cfg.Queries.Jobset(r.Context(), p, j); err != nil {
		return err
	}
	filter, limit := "", 0
	if !channels {
		filter, limit = r.URL.Query().Get("filter"), maxTabBuilds
	}
	if !channels && filter == "" && !wantsJSON(r) {
		return s.jobsTabHead(w, r, p, j)
	}
	evals, err := s.cfg.Queries.JobMatrix(r.Context(), p, j, filter, channels, limit)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	byID := make(map[string]MatrixEval, len(evals))
	for _, e := range evals {
		byID[strconv.FormatInt(e.ID, 10)] = e
		for job := range e.Builds {
			seen[job] = true
		}
	}
	names := slices.Sorted(maps.Keys(seen))
	out := jobMatrixJSON{Evals: byID}
	data := &jobMatrixPage{Project: p, Jobset: j, Channels: channels, Filter: filter, Evals: evals}
	if channels {
		out.Channels, data.Names = names, names
	} else {
		n := len(names)
		if filter == "" && n > maxTabJobs {
			names = names[:maxTabJobs]
		}
		out.Jobs, out.NrJobs, out.Filter = names, &n, &filter
		data.Names, data.More = names, n-len(names)
	}
	s.respond(w, r, out, "job-matrix", data)
	return nil
}

// jobsTabHead renders the unfiltered jobs tab from the builds of the
// maxTabJobs jobs it shows, so that its cost does not grow with the
// jobset. The JSON answer keeps every build (Hydra's stash).
func (s *server) jobsTabHead(w http.ResponseWriter, r *http.Request, p, j string) error {
	evals, nrJobs, err := s.cfg.Queries.JobMatrixHead(r.Context(), p, j, maxTabBuilds, maxTabJobs)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, e := range evals {
		for job := range e.Builds {
			seen[job] = true
		}
	}
	names := slices.Sorted(maps.Keys(seen))
	s.render(w, r, http.StatusOK, "job-matrix", &jobMatrixPage{Project: p, Jobset: j, Evals: evals, Names: names,
		More: nrJobs - len(names)})
	return nil
}
