package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"buildledger/projections/insights"
)

// InsightQueries answers the questions Hydra cannot (package
// projections/insights; insights.Reader implements it). A build it does
// not know is domainerr.ErrNotFound; any other error is a failure.
type InsightQueries interface {
	BuildBlockers(ctx context.Context, id int64) (insights.WhyNotRunning, error)
	BuildFailureOrigin(ctx context.Context, id int64) (insights.FailureOrigin, error)
	StepBlastRadius(ctx context.Context, drv string) (insights.BlastRadius, error)
	StepAttempts(ctx context.Context, drv string) ([]insights.Attempt, error)
	FlakySteps(ctx context.Context) ([]insights.FlakyStep, error)
	NonReproducibleOutputs(ctx context.Context) ([]insights.NonReproducible, error)
	EvalLatencies(ctx context.Context) ([]insights.EvalLatency, error)
	JobsetReproducibility(ctx context.Context, project, jobset string) (insights.Reproducibility, error)
}

// insightRoutes adds the insight pages when Config.Insights is set:
//
//	/build/{id}/why            why the build is not running, or where its failure came from
//	/step/attempts?drv=D       every attempt of a step
//	/step/blast-radius?drv=D   the builds a step blocks
//	/insights/flaky            flaky steps
//	/insights/non-reproducible outputs seen with different NAR hashes
//	/insights/eval-latency     request to finished evaluation, per jobset
//	/jobset/P/J/reproducibility what the jobset's reproducibility rebuilds found
func (s *server) insightRoutes(r chi.Router) {
	if s.cfg.Insights == nil {
		return
	}
	r.Get("/build/{id}/why", s.h(s.buildWhy))
	r.Get("/step/attempts", s.h(s.stepInsight("attempts")))
	r.Get("/step/blast-radius", s.h(s.stepInsight("blast-radius")))
	r.Get("/insights/flaky", s.h(s.insightList("flaky")))
	r.Get("/insights/non-reproducible", s.h(s.insightList("non-reproducible")))
	r.Get("/insights/eval-latency", s.h(s.insightList("eval-latency")))
	r.Get("/jobset/{project}/{jobset}/reproducibility", s.h(s.jobsetReproducibility))
}

// jobsetReproducibility is the jobset's "Reproducibility" tab: the share
// of its outputs rebuilt elsewhere to the same bits, per day, and those
// that were not, with both NAR hashes.
func (s *server) jobsetReproducibility(w http.ResponseWriter, r *http.Request) error {
	pname, jname := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	j, err := s.cfg.Queries.Jobset(r.Context(), pname, jname)
	if err != nil {
		return err
	}
	rep, err := s.cfg.Insights.JobsetReproducibility(r.Context(), pname, jname)
	if err != nil {
		return err
	}
	page := &reproducibilityPage{Jobset: j, Report: rep}
	if rep.Rate != nil {
		page.Rate = *rep.Rate
	}
	s.respond(w, r, rep, "reproducibility", page)
	return nil
}

// reproducibilityPage is reproducibility.html.
type reproducibilityPage struct {
	page
	Jobset Jobset
	Report insights.Reproducibility
	// Rate is Report.Rate, 0 when nothing was verified.
	Rate float64
}

func (s *server) buildWhy(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	why, err := s.cfg.Insights.BuildBlockers(r.Context(), id)
	if err != nil {
		return err
	}
	origin, err := s.cfg.Insights.BuildFailureOrigin(r.Context(), id)
	if err != nil {
		return err
	}
	out := struct {
		insights.WhyNotRunning
		Origin insights.FailureOrigin `json:"failureOrigin"`
	}{why, origin}
	s.respond(w, r, out, "insights", &insightsPage{Title: "Build " + strconv.FormatInt(id, 10) + ": why", Why: &why, Origin: &origin})
	return nil
}

// insightsPage shows one of the insights (insights.html); the handler
// sets the field of its kind.
type insightsPage struct {
	page
	Title    string
	Why      *insights.WhyNotRunning
	Origin   *insights.FailureOrigin
	Radius   *insights.BlastRadius
	Attempts []insights.Attempt
	Flaky    []insights.FlakyStep
	NonRepro []insights.NonReproducible
	Latency  []insights.EvalLatency
}

func (s *server) stepInsight(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		drv := r.URL.Query().Get("drv")
		if drv == "" {
			return errBadRequest("drv is required")
		}
		var (
			v    any
			err  error
			data insightsPage
		)
		if kind == "attempts" {
			var as []insights.Attempt
			as, err = s.cfg.Insights.StepAttempts(r.Context(), drv)
			v, data.Attempts, data.Title = as, as, "Attempts of "+drv
		} else {
			var br insights.BlastRadius
			br, err = s.cfg.Insights.StepBlastRadius(r.Context(), drv)
			v, data.Radius, data.Title = br, &br, "Blast radius of "+drv
		}
		if err != nil {
			return err
		}
		s.respond(w, r, v, "insights", &data)
		return nil
	}
}

func (s *server) insightList(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		var (
			v    any
			err  error
			data insightsPage
		)
		switch kind {
		case "flaky":
			var fs []insights.FlakyStep
			fs, err = s.cfg.Insights.FlakySteps(r.Context())
			v, data.Flaky, data.Title = fs, fs, "Flaky steps"
		case "non-reproducible":
			var ns []insights.NonReproducible
			ns, err = s.cfg.Insights.NonReproducibleOutputs(r.Context())
			v, data.NonRepro, data.Title = ns, ns, "Non-reproducible outputs"
		default:
			var ls []insights.EvalLatency
			ls, err = s.cfg.Insights.EvalLatencies(r.Context())
			v, data.Latency, data.Title = ls, ls, "Evaluation latency per jobset"
		}
		if err != nil {
			return err
		}
		s.respond(w, r, v, "insights", &data)
		return nil
	}
}
