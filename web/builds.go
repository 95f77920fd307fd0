package web

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"buildledger/domain/user"
)

// loadBuild loads the build the URL's {id} names.
func (s *server) loadBuild(r *http.Request) (Build, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return Build{}, err
	}
	return s.cfg.Queries.Build(r.Context(), id)
}

func (s *server) buildPage(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	steps, err := s.cfg.Queries.BuildSteps(r.Context(), b.ID)
	if err != nil {
		return err
	}
	cons, err := s.cfg.Queries.Constituents(r.Context(), b.ID)
	if err != nil {
		return err
	}
	out := struct {
		Build
		Steps []BuildStep `json:"steps"`
	}{b, steps}
	runs, err := s.cfg.Queries.RunCommandLogs(r.Context(), b.ID)
	if err != nil {
		return err
	}
	sub, err := s.cfg.Queries.Submission(r.Context(), b.ID)
	if err != nil {
		return err
	}
	p, _ := s.cfg.Queries.Project(r.Context(), b.Project)
	s.respond(w, r, out, "build", &buildPage{Build: b, Steps: steps, Constituents: cons, Project: p,
		Products: sortedProducts(b.Products), RunCommands: runs, Submission: sub})
	return nil
}

// buildPage is the summary of a build (build.html).
type buildPage struct {
	page
	Build        Build
	Steps        []BuildStep
	Constituents []Build
	// Project is the build's, for the permission checks of the actions.
	Project  Project
	Products []BuildProduct
	// RunCommands are the build's RunCommand runs (Hydra's RunCommand
	// Logs tab).
	RunCommands []RunCommandLog
	// Submission is who submitted an ad-hoc build; nil for others.
	Submission *AdhocSubmission
}

func sortedProducts(m map[string]BuildProduct) []BuildProduct {
	out := make([]BuildProduct, 0, len(m))
	for i := 1; len(out) < len(m) && i < 10000; i++ {
		if p, ok := m[strconv.Itoa(i)]; ok {
			out = append(out, p)
		}
	}
	return out
}

func (s *server) buildConstituents(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	cons, err := s.cfg.Queries.Constituents(r.Context(), b.ID)
	if err != nil {
		return err
	}
	s.respond(w, r, cons, "builds", &buildsPage{Title: "Constituents of build " + strconv.FormatInt(b.ID, 10), Builds: cons})
	return nil
}

// buildAction runs restart, cancel, bump or keep after Hydra's permission
// checks. Whether the build's state allows it is domain/build's to say
// (domainerr.ErrConflict, 409): the read model may lag behind the build's
// stream, so a check here would answer differently depending on timing.
func (s *server) buildAction(action string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		b, err := s.loadBuild(r)
		if err != nil {
			return err
		}
		p, err := s.cfg.Queries.Project(r.Context(), b.Project)
		if err != nil {
			return err
		}
		var perm func(*principal) bool
		switch action {
		case "restart":
			perm = roleOrOwner(user.RoleRestartJobs, p)
		case "cancel":
			perm = roleOrOwner(user.RoleCancelBuild, p)
		case "bump":
			perm = roleOrOwner(user.RoleBumpToFront, p)
		default:
			perm = func(pr *principal) bool { return pr.isOwner(p) }
		}
		if err := require(r, perm); err != nil {
			return err
		}
		if s.cfg.Builds == nil {
			return &httpError{Status: http.StatusNotImplemented, Msg: "build actions are not available"}
		}
		ctx, md := r.Context(), s.metadata(r)
		switch action {
		case "restart":
			_, err = s.cfg.Builds.RestartBuild(ctx, md, b.ID)
		case "cancel":
			_, err = s.cfg.Builds.CancelBuild(ctx, md, b.ID)
		case "bump":
			_, err = s.cfg.Builds.BumpBuild(ctx, md, b.ID)
		default:
			keep := true
			if f := chi.URLParam(r, "flag"); f != "" {
				keep = truthy(f)
			} else if r.URL.Query().Has("keep") {
				keep = truthy(r.URL.Query().Get("keep"))
			}
			_, err = s.cfg.Builds.KeepBuild(ctx, md, b.ID, keep)
		}
		if err != nil {
			return err
		}
		s.done(w, r, http.StatusOK, "/build/"+strconv.FormatInt(b.ID, 10), nil)
		return nil
	}
}

func (s *server) jobPage(w http.ResponseWriter, r *http.Request) error {
	pname, jname, job := chi.URLParam(r, "project"), chi.URLParam(r, "jobset"), chi.URLParam(r, "job")
	if _, err := s.cfg.Queries.Jobset(r.Context(), pname, jname); err != nil {
		return err
	}
	pg, n := pageOf(r, 50)
	bs, err := s.cfg.Queries.Builds(r.Context(), BuildFilter{Project: pname, Jobset: jname, Job: job, Page: pg})
	if err != nil {
		return err
	}
	s.respond(w, r, bs, "builds", &buildsPage{Title: "Job " + pname + ":" + jname + ":" + job, Builds: bs,
		Page: n, More: len(bs) == pg.Limit, Shield: "/job/" + pname + "/" + jname + "/" + job + "/shield"})
	return nil
}

// evalsFinished reports whether some evaluation of b has no unfinished
// builds.
func (s *server) evalsFinished(r *http.Request, b Build) bool {
	for _, id := range b.JobsetEvals {
		e, err := s.cfg.Queries.Eval(r.Context(), id)
		if err == nil && e.NrQueued == 0 {
			return true
		}
	}
	return false
}

// jobShield answers shields.io's endpoint JSON for a job's latest build.
func (s *server) jobShield(w http.ResponseWriter, r *http.Request) error {
	pname, jname, job := chi.URLParam(r, "project"), chi.URLParam(r, "jobset"), chi.URLParam(r, "job")
	fin := true
	bs, err := s.cfg.Queries.Builds(r.Context(), BuildFilter{Project: pname, Jobset: jname, Job: job, Finished: &fin, Page: Page{Limit: 1}})
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		s.json(w, http.StatusNotFound, shieldJSON{Color: "lightgrey", Label: shieldLabel, Message: "not found", SchemaVersion: 1})
		return nil
	}
	// Hydra's colours and words: green passing, yellow cancelled, red
	// failing for every other status.
	msg, color := "failing", "red"
	switch {
	case succeeded(bs[0]):
		msg, color = "passing", "green"
	case bs[0].BuildStatus != nil && *bs[0].BuildStatus == 4:
		msg, color = "cancelled", "yellow"
	}
	s.json(w, http.StatusOK, shieldJSON{Color: color, Label: shieldLabel, Message: msg, SchemaVersion: 1})
	return nil
}

// shieldJSON is shields.io's endpoint badge format.
type shieldJSON struct {
	Color         string `json:"color"`
	Label         string `json:"label"`
	Message       string `json:"message"`
	SchemaVersion int    `json:"schemaVersion"`
}

// shieldLabel is the label of a job's badge, as Hydra's.
const shieldLabel = "hydra build"
