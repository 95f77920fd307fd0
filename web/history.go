package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"buildledger/domain/redact"
	"buildledger/domain/streams"
	"buildledger/events"
)

// eventRow is one event of a stream as the events tab shows it.
type eventRow struct {
	Revision   uint64          `json:"revision"`
	Type       string          `json:"type"`
	Actor      string          `json:"actor"`
	RecordedAt int64           `json:"recordedat"`
	Data       json.RawMessage `json:"data"`
}

const eventsPerPage = 100

// streamEvents answers the events of one stream of project with actor and
// time, redacted (domain/redact). The history shows what the read models
// no longer do (old values, actors, token names), so only the project's
// owners and members, and admins, may read it.
func (s *server) streamEvents(w http.ResponseWriter, r *http.Request, project, title, back, stream string) error {
	if s.cfg.Events == nil {
		return &httpError{Status: http.StatusNotImplemented, Msg: "the event history is not available"}
	}
	pr, err := s.cfg.Queries.Project(r.Context(), project)
	if err != nil {
		return err
	}
	if err := require(r, func(p *principal) bool { return p.isOwner(pr) }); err != nil {
		return err
	}
	pg, n := pageOf(r, eventsPerPage)
	recs, err := s.cfg.Events.ReadStream(r.Context(), stream, uint64(pg.Offset), pg.Limit+1)
	if err != nil && !errors.Is(err, events.ErrStreamNotFound) {
		return err
	}
	more := len(recs) > pg.Limit
	if more {
		recs = recs[:pg.Limit]
	}
	rows := make([]eventRow, 0, len(recs))
	for _, e := range recs {
		rows = append(rows, eventRow{Revision: e.Revision, Type: e.Type, Actor: e.Metadata.Actor,
			RecordedAt: e.RecordedAt.Unix(), Data: redact.JSON(e.Data)})
	}
	s.respond(w, r, rows, "events", &eventsPage{Title: title, Back: back, Stream: stream, Events: rows,
		Page: n, More: more})
	return nil
}

// eventsPage is the history of one stream (events.html).
type eventsPage struct {
	page
	Title, Back, Stream string
	Events              []eventRow
	Page                int
	More                bool
}

func (s *server) projectEvents(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "project")
	return s.streamEvents(w, r, name, "Events of project "+name, "/project/"+name, streams.Project(name))
}

func (s *server) jobsetEvents(w http.ResponseWriter, r *http.Request) error {
	p, j := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	if _, err := s.cfg.Queries.Jobset(r.Context(), p, j); err != nil {
		return err
	}
	return s.streamEvents(w, r, p, "Events of jobset "+p+":"+j, "/jobset/"+p+"/"+j, streams.Jobset(p, j))
}

func (s *server) evalEvents(w http.ResponseWriter, r *http.Request) error {
	e, err := s.loadEval(r)
	if err != nil {
		return err
	}
	id := strconv.FormatInt(e.ID, 10)
	return s.streamEvents(w, r, e.Project, "Events of evaluation "+id, "/eval/"+id, streams.Eval(e.ID))
}

func (s *server) buildEvents(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	id := strconv.FormatInt(b.ID, 10)
	return s.streamEvents(w, r, b.Project, "Events of build "+id, "/build/"+id, streams.Build(b.ID))
}
