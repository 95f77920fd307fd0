package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// stepJSON is a build step as Hydra's /build/N/step/S sends it: the
// step's columns with resolveddrvpath (content-addressed resolution,
// which buildledger never records, so always null).
type stepJSON struct {
	BuildStep
	ResolvedDrvPath *string `json:"resolveddrvpath"`
}

// stepPage shows one step (step.html).
type stepPage struct {
	page
	Step BuildStep
}

// buildStep answers one step of a build.
func (s *server) buildStep(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	nr, err := strconv.Atoi(chi.URLParam(r, "nr"))
	if err != nil {
		return errNotFound("step " + strconv.Quote(chi.URLParam(r, "nr")))
	}
	steps, err := s.cfg.Queries.BuildSteps(r.Context(), b.ID)
	if err != nil {
		return err
	}
	for _, st := range steps {
		if st.StepNr == nr {
			s.respond(w, r, stepJSON{BuildStep: st}, "step", &stepPage{Step: st})
			return nil
		}
	}
	return errNotFound("step " + strconv.Itoa(nr) + " of build " + strconv.FormatInt(b.ID, 10))
}

// buildInfo is Hydra's /build/N/api/get-info.
type buildInfo struct {
	BuildID int64  `json:"buildId"`
	DrvPath string `json:"drvPath"`
	OutPath string `json:"outPath,omitempty"`
}

// mainOutput is the output Hydra calls a build's main one: "out", or
// the first by name.
func mainOutput(b Build) (BuildOutput, bool) {
	if o, ok := b.Outputs["out"]; ok {
		return o, true
	}
	names := make([]string, 0, len(b.Outputs))
	for n := range b.Outputs {
		names = append(names, n)
	}
	if len(names) == 0 {
		return BuildOutput{}, false
	}
	slices.Sort(names)
	return b.Outputs[names[0]], true
}

func (s *server) buildGetInfo(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	info := buildInfo{BuildID: b.ID, DrvPath: b.DrvPath}
	if o, ok := mainOutput(b); ok {
		info.OutPath = o.Path
	}
	s.json(w, http.StatusOK, info)
	return nil
}

// buildEvalsOf returns the evaluations with new builds that contain b,
// newest first.
func (s *server) buildEvalsOf(r *http.Request, b Build) ([]Eval, error) {
	ids := slices.Clone(b.JobsetEvals)
	slices.Sort(ids)
	slices.Reverse(ids)
	var out []Eval
	for _, id := range ids {
		e, err := s.cfg.Queries.Eval(r.Context(), id)
		if err != nil {
			return nil, err
		}
		if e.HasNewBuilds {
			out = append(out, e)
		}
	}
	return out, nil
}

// buildEvals lists the evaluations that contain a build, as Hydra's
// /build/N/evals does (those with new builds).
func (s *server) buildEvals(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	evals, err := s.buildEvalsOf(r, b)
	if err != nil {
		return err
	}
	out := evalsJSON{Evals: evals, First: "?page=1", Last: "?page=1"}
	s.respond(w, r, out, "evals", &evalsPage{Evals: evals, Page: 1, LastPage: 1, Total: len(evals), Paging: out})
	return nil
}

// buildEval redirects to the newest finished evaluation with new builds
// that contains the build, and on to the rest of the URL.
func (s *server) buildEval(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	rest := strings.Trim(chi.URLParam(r, "*"), "/")
	if slices.Contains(strings.Split(rest, "/"), "..") {
		return errBadRequest("bad path %q", rest)
	}
	evals, err := s.buildEvalsOf(r, b)
	if err != nil {
		return err
	}
	for _, e := range evals {
		if e.NrQueued != 0 {
			continue
		}
		target := "/eval/" + strconv.FormatInt(e.ID, 10)
		if rest != "" {
			target += "/" + rest
		}
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusFound)
		return nil
	}
	return errNotFound("finished evaluation containing build " + strconv.FormatInt(b.ID, 10))
}

// buildDeps shows what the build needed at build time: its part of the
// evaluation's build graph, which the ledger recorded, so that it does
// not depend on the derivation still being in the store.
func (s *server) buildDeps(w http.ResponseWriter, r *http.Request) error {
	return s.buildGraph(w, r)
}
