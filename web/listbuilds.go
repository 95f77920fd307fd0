package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// scope is what a ListBuilds route lists: everything, a project, a
// jobset or a job.
type scope struct {
	Project, Jobset, Job string
	// Title names the scope for page titles; Base is its URL.
	Title, Base string
}

func (sc scope) filter() BuildFilter {
	return BuildFilter{Project: sc.Project, Jobset: sc.Jobset, Job: sc.Job}
}

// scopeOf reads the scope from the URL and checks that it exists. No
// project in the URL is the site-wide scope.
func (s *server) scopeOf(r *http.Request) (scope, error) {
	sc := scope{Project: chi.URLParam(r, "project"), Jobset: chi.URLParam(r, "jobset"), Job: chi.URLParam(r, "job")}
	switch {
	case sc.Project == "":
		sc.Title = "everything"
	case sc.Jobset != "":
		if _, err := s.cfg.Queries.Jobset(r.Context(), sc.Project, sc.Jobset); err != nil {
			return sc, err
		}
		if sc.Job != "" {
			sc.Title, sc.Base = "job "+sc.Project+":"+sc.Jobset+":"+sc.Job, "/job/"+sc.Project+"/"+sc.Jobset+"/"+sc.Job
		} else {
			sc.Title, sc.Base = "jobset "+sc.Project+":"+sc.Jobset, "/jobset/"+sc.Project+"/"+sc.Jobset
		}
	default:
		if _, err := s.cfg.Queries.Project(r.Context(), sc.Project); err != nil {
			return sc, err
		}
		sc.Title, sc.Base = "project "+sc.Project, "/project/"+sc.Project
	}
	return sc, nil
}

// listBuildsRoutes mounts Hydra's ListBuilds routes under prefix (which
// names the scope's URL parameters; "" mounts the site-wide ones).
func (s *server) listBuildsRoutes(r chi.Router, prefix string) {
	r.Get(prefix+"/all", s.h(s.allBuilds))
	for _, kind := range []string{"latest", "latest-finished"} {
		r.Get(prefix+"/"+kind, s.h(s.latestBuild(kind)))
		r.Get(prefix+"/"+kind+"/*", s.h(s.latestBuild(kind)))
	}
	r.Get(prefix+"/latest-for/{system}", s.h(s.latestBuild("latest-for")))
	r.Get(prefix+"/latest-for/{system}/*", s.h(s.latestBuild("latest-for")))
	r.Get(prefix+"/channel/latest", s.h(s.channelLatest))
	r.Get(prefix+"/channel/latest/binary-cache-url", s.h(s.binaryCacheURL))
	r.Get(prefix+"/channel/latest/nixexprs.tar.bz2", s.h(s.channelNixExprs(scopeChannel)))
	r.Get(prefix+"/channel/latest/MANIFEST", s.h(s.channelManifest(scopeChannel)))
	r.Get(prefix+"/channel/latest/closure", s.h(s.channelClosure(scopeChannel)))
}

// allBuildsJSON is the answer of the "all" routes.
type allBuildsJSON struct {
	Builds         []Build `json:"builds"`
	Total          int     `json:"total"`
	Page           int     `json:"page"`
	ResultsPerPage int     `json:"resultsPerPage"`
}

const buildsPerPage = 50

// allBuilds lists the finished builds of a scope, newest first.
func (s *server) allBuilds(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.scopeOf(r)
	if err != nil {
		return err
	}
	pg, n := pageOf(r, buildsPerPage)
	fin := true
	f := sc.filter()
	f.Finished, f.Page = &fin, pg
	bs, err := s.cfg.Queries.Builds(r.Context(), f)
	if err != nil {
		return err
	}
	total, err := s.cfg.Queries.CountBuilds(r.Context(), f)
	if err != nil {
		return err
	}
	out := allBuildsJSON{Builds: bs, Total: total, Page: n, ResultsPerPage: buildsPerPage}
	s.respond(w, r, out, "builds", &buildsPage{Title: "Finished builds of " + sc.Title + " (" + strconv.Itoa(total) + ")",
		Builds: bs, Page: n, More: n*buildsPerPage < total, Empty: "No build of " + sc.Title + " has finished yet."})
	return nil
}

// latestBuild redirects to the newest successful build of a scope, and
// on to the rest of the URL (latest/download/1 → /build/N/download/1):
// latest, latest-for/<system>, or latest-finished (in an evaluation with
// no unfinished builds).
func (s *server) latestBuild(kind string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		sc, err := s.scopeOf(r)
		if err != nil {
			return err
		}
		rest := chi.URLParam(r, "*")
		for _, part := range strings.Split(rest, "/") {
			if part == ".." {
				return errBadRequest("bad path %q", rest)
			}
		}
		ok := 0
		f := sc.filter()
		f.Status, f.Page = &ok, Page{Limit: 1}
		if kind == "latest-for" {
			f.System = chi.URLParam(r, "system")
		}
		if kind == "latest-finished" {
			f.Limit = 50
		}
		bs, err := s.cfg.Queries.Builds(r.Context(), f)
		if err != nil {
			return err
		}
		for _, b := range bs {
			if kind == "latest-finished" && !s.evalsFinished(r, b) {
				continue
			}
			target := "/build/" + strconv.FormatInt(b.ID, 10)
			if rest = strings.Trim(rest, "/"); rest != "" {
				target += "/" + rest
			}
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusFound)
			return nil
		}
		return errNotFound("successful build of " + sc.Title)
	}
}

// channelLatest lists the newest successful build of every job of a
// scope: what a Nix channel of it contains.
func (s *server) channelLatest(w http.ResponseWriter, r *http.Request) error {
	sc, err := s.scopeOf(r)
	if err != nil {
		return err
	}
	bs, err := s.cfg.Queries.LatestSucceeded(r.Context(), sc.filter())
	if err != nil {
		return err
	}
	s.respond(w, r, bs, "builds", &buildsPage{Title: "Channel of " + sc.Title + ": latest successful builds",
		Builds: bs, Empty: "No build of " + sc.Title + " has succeeded yet, so its channel is empty.",
		Note: "Binary cache: " + s.cacheURL(r)})
	return nil
}

// cacheURL is the public URL of the binary cache: the site's root, where
// Hydra serves it (and where the web serves BinaryCache's files too).
func (s *server) cacheURL(r *http.Request) string {
	base := s.cfg.BaseURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	// The cache is at the root, as Hydra's binary-cache-url says.
	return strings.TrimRight(base, "/") + "/"
}

func (s *server) binaryCacheURL(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.scopeOf(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(s.cacheURL(r)))
	return nil
}

// evalJob redirects to the build of a job in an evaluation (and on to the
// rest of the URL).
func (s *server) evalJob(w http.ResponseWriter, r *http.Request) error {
	e, err := s.loadEval(r)
	if err != nil {
		return err
	}
	job := chi.URLParam(r, "job")
	bs, err := s.cfg.Queries.Builds(r.Context(), BuildFilter{EvalID: e.ID, Job: job, Page: Page{Limit: 1}})
	if err != nil {
		return err
	}
	if len(bs) == 0 {
		return errNotFound("job " + strconv.Quote(job) + " in evaluation " + strconv.FormatInt(e.ID, 10))
	}
	target := "/build/" + strconv.FormatInt(bs[0].ID, 10)
	rest := strings.Trim(chi.URLParam(r, "*"), "/")
	for _, part := range strings.Split(rest, "/") {
		if part == ".." {
			return errBadRequest("bad path %q", rest)
		}
	}
	if rest != "" {
		target += "/" + rest
	}
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}
