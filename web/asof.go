package web

import (
	"context"
	"errors"
	"net/http"

	"buildledger/domain/domainerr"
	"buildledger/domain/user"
)

// AsOfFunc returns read queries over the read models as they were at a
// point of the log, named by at: an RFC 3339 time or a log position. The
// label describes the point for people ("position 1234"). The
// implementation replays the log into a scratch schema (and may cache it).
type AsOfFunc func(ctx context.Context, at string) (q Queries, label string, err error)

// asOf serves page with the read models as of the request's ?asof=
// parameter, when it has one and Config.AsOf is set: the handler runs on a
// copy of the server whose Queries read the past. The answer carries the
// point in the X-Buildledger-As-Of header. Reading the past may replay the
// log, so only auditors and admins may ask; AsOf may refuse with
// domainerr.ErrBusy (429) while it builds another point.
func (s *server) asOf(page func(*server, http.ResponseWriter, *http.Request) error) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		at := r.URL.Query().Get("asof")
		if at == "" {
			return page(s, w, r)
		}
		if s.cfg.AsOf == nil {
			return errBadRequest("asof is not available on this server")
		}
		if err := require(r, func(p *principal) bool { return p.hasRole(user.RoleAuditor) }); err != nil {
			return err
		}
		q, label, err := s.cfg.AsOf(r.Context(), at)
		if errors.Is(err, domainerr.ErrBusy) {
			w.Header().Set("Retry-After", "10")
			return err
		}
		if err != nil {
			return errBadRequest("asof %q: %v", at, err)
		}
		past := *s
		past.cfg.Queries = q
		w.Header().Set("X-Buildledger-As-Of", label)
		return page(&past, w, r)
	}
}
