package web

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/user"
	"buildledger/events"
)

// EvalDiff compares an evaluation's builds with those of the previous
// evaluation of the same jobset, by job name.
type EvalDiff struct {
	PreviousID      int64   `json:"previous"`
	New             []Build `json:"new"`
	Removed         []Build `json:"removed"`
	Changed         []Build `json:"changed"`
	NowFailing      []Build `json:"nowfailing"`
	NowSucceeding   []Build `json:"nowsucceeding"`
	StillFailing    []Build `json:"stillfailing"`
	StillSucceeding []Build `json:"stillsucceeding"`
	Unfinished      []Build `json:"unfinished"`
}

func succeeded(b Build) bool { return bool(b.Finished) && b.BuildStatus != nil && *b.BuildStatus == 0 }
func failed(b Build) bool    { return bool(b.Finished) && (b.BuildStatus == nil || *b.BuildStatus != 0) }

// diffEvals sorts cur's builds into the categories of Hydra's eval page.
func diffEvals(prevID int64, cur, prev []Build) EvalDiff {
	d := EvalDiff{PreviousID: prevID, New: []Build{}, Removed: []Build{}, Changed: []Build{}, NowFailing: []Build{},
		NowSucceeding: []Build{}, StillFailing: []Build{}, StillSucceeding: []Build{}, Unfinished: []Build{}}
	old := map[string]Build{}
	for _, b := range prev {
		old[b.Job] = b
	}
	seen := map[string]bool{}
	for _, b := range cur {
		seen[b.Job] = true
		p, had := old[b.Job]
		switch {
		case prevID != 0 && !had:
			d.New = append(d.New, b)
		case !bool(b.Finished):
			d.Unfinished = append(d.Unfinished, b)
		case had && succeeded(p) && failed(b):
			d.NowFailing = append(d.NowFailing, b)
		case had && failed(p) && succeeded(b):
			d.NowSucceeding = append(d.NowSucceeding, b)
		case had && p.ID != b.ID:
			d.Changed = append(d.Changed, b)
		case failed(b):
			d.StillFailing = append(d.StillFailing, b)
		default:
			d.StillSucceeding = append(d.StillSucceeding, b)
		}
	}
	for _, b := range prev {
		if !seen[b.Job] {
			d.Removed = append(d.Removed, b)
		}
	}
	for _, l := range [][]Build{d.New, d.Removed, d.Changed, d.NowFailing, d.NowSucceeding, d.StillFailing, d.StillSucceeding, d.Unfinished} {
		sort.Slice(l, func(i, k int) bool { return l[i].Job < l[k].Job })
	}
	return d
}

// loadEval loads the evaluation the URL's {id} names.
func (s *server) loadEval(r *http.Request) (Eval, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return Eval{}, err
	}
	return s.cfg.Queries.Eval(r.Context(), id)
}

func (s *server) evalPage(w http.ResponseWriter, r *http.Request) error {
	e, err := s.loadEval(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	// The diff compares every member of both evaluations, as Hydra's.
	builds, err := s.everyBuild(ctx, BuildFilter{EvalID: e.ID})
	if err != nil {
		return err
	}
	prevID, err := s.cfg.Queries.PreviousEval(ctx, e.ID)
	if err != nil {
		return err
	}
	var prev []Build
	if prevID != 0 {
		if prev, err = s.everyBuild(ctx, BuildFilter{EvalID: prevID}); err != nil {
			return err
		}
	}
	d := diffEvals(prevID, builds, prev)
	out := struct {
		Eval
		Diff EvalDiff `json:"diff"`
	}{e, d}
	p, _ := s.cfg.Queries.Project(ctx, e.Project)
	s.respond(w, r, out, "eval", &evalPage{Eval: e, Diff: d, Project: p, NrBuilds: len(builds)})
	return nil
}

// evalPage is an evaluation compared with the previous one (eval.html).
type evalPage struct {
	page
	Eval Eval
	Diff EvalDiff
	// Project is the evaluation's, for the permission checks of the
	// actions.
	Project  Project
	NrBuilds int
}

func (s *server) evalBuilds(w http.ResponseWriter, r *http.Request) error {
	e, err := s.loadEval(r)
	if err != nil {
		return err
	}
	f := BuildFilter{EvalID: e.ID}
	if wantsJSON(r) {
		return s.streamBuilds(w, r, f)
	}
	bs, err := s.everyBuild(r.Context(), f)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "builds", &buildsPage{Title: "Builds of evaluation " + strconv.FormatInt(e.ID, 10), Builds: bs})
	return nil
}

// evalErrorsJSON is the answer of /eval/<id>/errors: the evaluation, as
// Hydra answers, with its error text (a buildledger extension; Hydra
// shows it in HTML only).
type evalErrorsJSON struct {
	Eval
	ErrorMsg string `json:"errormsg"`
}

func (s *server) evalErrors(w http.ResponseWriter, r *http.Request) error {
	e, err := s.loadEval(r)
	if err != nil {
		return err
	}
	msg, err := s.cfg.Queries.EvalErrors(r.Context(), e.ID)
	if err != nil {
		return err
	}
	id := strconv.FormatInt(e.ID, 10)
	s.respond(w, r, evalErrorsJSON{Eval: e, ErrorMsg: msg}, "errors",
		&errorsPage{Title: "Errors of evaluation " + id, Back: "/eval/" + id, Errors: msg})
	return nil
}

// evalAction applies a build action to the eval's builds that are
// finished (or unfinished) and pass sel, after checking the permission.
// The read model only picks the candidates: each build's own stream
// decides, and a build whose state refuses the action
// (domainerr.ErrConflict), because it changed since the read model saw
// it, is skipped rather than failing the rest. count is how many were
// acted on.
func (s *server) evalAction(w http.ResponseWriter, r *http.Request, role string, finished bool, sel func(Build) bool,
	act func(BuildActions, context.Context, events.Metadata, int64) (commands.Result, error)) error {
	e, err := s.loadEval(r)
	if err != nil {
		return err
	}
	p, err := s.cfg.Queries.Project(r.Context(), e.Project)
	if err != nil {
		return err
	}
	if err := require(r, roleOrOwner(role, p)); err != nil {
		return err
	}
	if s.cfg.Builds == nil {
		return &httpError{Status: http.StatusNotImplemented, Msg: "build actions are not available"}
	}
	// Every member, a batch at a time, as Hydra acts on all of them.
	n := 0
	err = s.eachBuild(r.Context(), BuildFilter{EvalID: e.ID, Finished: &finished}, func(bs []Build) error {
		for _, b := range bs {
			if !sel(b) {
				continue
			}
			_, err := act(s.cfg.Builds, r.Context(), s.metadata(r), b.ID)
			if errors.Is(err, domainerr.ErrConflict) {
				continue
			}
			if err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.done(w, r, http.StatusOK, "/eval/"+strconv.FormatInt(e.ID, 10), &evalActionDone{Count: n})
	return nil
}

// evalActionDone answers an action on the builds of an evaluation with
// how many it changed.
type evalActionDone struct {
	Count int `json:"count"`
	redirect
}

// evalRestart restarts the eval's failed builds, or only its aborted,
// cancelled and timed-out ones.
func (s *server) evalRestart(abortedOnly bool) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		sel := func(b Build) bool {
			if b.BuildStatus == nil {
				return false
			}
			if abortedOnly {
				c := *b.BuildStatus
				return c == 3 || c == 4 || c == 9
			}
			return *b.BuildStatus != 0
		}
		return s.evalAction(w, r, user.RoleRestartJobs, true, sel, BuildActions.RestartBuild)
	}
}

func (s *server) evalCancel(w http.ResponseWriter, r *http.Request) error {
	return s.evalAction(w, r, user.RoleCancelBuild, false, func(Build) bool { return true }, BuildActions.CancelBuild)
}

func (s *server) evalBump(w http.ResponseWriter, r *http.Request) error {
	return s.evalAction(w, r, user.RoleBumpToFront, false, func(Build) bool { return true }, BuildActions.BumpBuild)
}
