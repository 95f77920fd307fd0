package web

import (
	"net/http"
)

// maxDiffs is how many /api/scmdiff diffs run at once; more are 429.
const maxDiffs = 2

// apiSCMDiff answers Hydra's /api/scmdiff: the log and the diff between
// two revisions of a repository, as plain text (" " when empty, as
// Hydra). Anyone who may read the site may ask, as in Hydra, but only
// for a repository a jobset input names, so that the server fetches
// nothing a project did not configure.
func (s *server) apiSCMDiff(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.SCMDiff == nil {
		return &httpError{Status: http.StatusNotImplemented, Msg: "scmdiff is not available"}
	}
	q := r.URL.Query()
	typ, uri := q.Get("type"), q.Get("uri")
	if typ != "git" && typ != "hg" {
		return errBadRequest("parameter type must be git or hg")
	}
	if uri == "" || q.Get("rev1") == "" || q.Get("rev2") == "" {
		return errBadRequest("parameters uri, rev1 and rev2 are required")
	}
	known, err := s.cfg.Queries.InputRepository(r.Context(), typ, uri)
	if err != nil {
		return err
	}
	if !known {
		return errNotFound("a " + typ + " input naming " + uri)
	}
	select {
	case s.diffs <- struct{}{}:
		defer func() { <-s.diffs }()
	default:
		w.Header().Set("Retry-After", "10")
		return &httpError{Status: http.StatusTooManyRequests, Msg: "too many diffs at once, try again shortly"}
	}
	diff, err := s.cfg.SCMDiff.Diff(r.Context(), typ, uri, q.Get("rev1"), q.Get("rev2"))
	if err != nil {
		return err
	}
	if diff == "" {
		diff = " "
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(diff))
	return nil
}
