package web

import (
	"errors"
	"net/http"
	"net/url"

	"buildledger/domain/domainerr"
)

// The admin actions of Hydra's Admin controller. Hydra answers them with
// a 302 back to the Referer (or /), JSON clients included; so does
// buildledger, to a Referer of this site only. They take POST or PUT (as
// Hydra's test sends), never GET: a link must not cancel the queue.

// referer returns the local path of the request's Referer, or "/".
func referer(r *http.Request) string {
	u, err := url.Parse(r.Referer())
	if err != nil || u.Path == "" {
		return "/"
	}
	to := u.Path
	if u.RawQuery != "" {
		to += "?" + u.RawQuery
	}
	return safeNext(to)
}

// cleared answers an admin action with how many builds or entries it
// changed.
type cleared struct {
	Count int `json:"count"`
}

// clearQueueNonCurrent cancels the queued builds that are not members of
// their jobset's latest evaluation with new builds (admins only): each
// through CancelBuild, so each is a BuildCancelled event as if cancelled
// by hand. A build that finished meanwhile is skipped.
func (s *server) clearQueueNonCurrent(w http.ResponseWriter, r *http.Request) error {
	if err := require(r, (*principal).isAdmin); err != nil {
		return err
	}
	if s.cfg.Builds == nil {
		return &httpError{Status: http.StatusNotImplemented, Msg: "build actions are not available"}
	}
	ids, err := s.cfg.Queries.QueuedNotCurrent(r.Context())
	if err != nil {
		return err
	}
	n := 0
	md := s.metadata(r)
	for _, id := range ids {
		_, err := s.cfg.Builds.CancelBuild(r.Context(), md, id)
		if errors.Is(err, domainerr.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		n++
	}
	s.found(w, r, referer(r), cleared{Count: n})
	return nil
}

// clearFailedCache empties the cache of failed paths (admins only), so
// that builds whose outputs failed before are tried again.
func (s *server) clearFailedCache(w http.ResponseWriter, r *http.Request) error {
	if err := require(r, (*principal).isAdmin); err != nil {
		return err
	}
	if _, err := s.cfg.Commands.ClearFailedPaths(r.Context(), s.metadata(r)); err != nil {
		return err
	}
	s.found(w, r, referer(r), nil)
	return nil
}

// clearVCSCache records that the caches of fetched inputs are cleared
// (admins only): the evaluator, perhaps another process, folds the event
// and fetches deep clones and URL downloads again.
func (s *server) clearVCSCache(w http.ResponseWriter, r *http.Request) error {
	if err := require(r, (*principal).isAdmin); err != nil {
		return err
	}
	if _, err := s.cfg.Commands.ClearVCSCaches(r.Context(), s.metadata(r)); err != nil {
		return err
	}
	s.found(w, r, referer(r), nil)
	return nil
}
