package web

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// customChannelBuild is the build behind /channel/custom/<p>/<j>/<ch>, as
// Hydra's Channel.pm picks it: the successful build of job <ch> in the
// newest evaluation with new builds that has one.
func (s *server) customChannelBuild(r *http.Request) (Build, error) {
	p, j, ch := chi.URLParam(r, "project"), chi.URLParam(r, "jobset"), chi.URLParam(r, "channel")
	if _, err := s.cfg.Queries.Jobset(r.Context(), p, j); err != nil {
		return Build{}, err
	}
	id, err := s.cfg.Queries.LastSuccessfulChannel(r.Context(), p, j, ch)
	if err != nil {
		return Build{}, err
	}
	return s.cfg.Queries.Build(r.Context(), id)
}

// customChannel lists the constituents of a custom channel's build by
// job name, as Hydra's channel overview does.
func (s *server) customChannel(w http.ResponseWriter, r *http.Request) error {
	b, err := s.customChannelBuild(r)
	if err != nil {
		return err
	}
	cons, err := s.cfg.Queries.Constituents(r.Context(), b.ID)
	if err != nil {
		return err
	}
	slices.SortStableFunc(cons, func(x, y Build) int { return cmp.Compare(x.Job, y.Job) })
	s.respond(w, r, cons, "builds", &buildsPage{
		Title: fmt.Sprintf("Channel %s of %s:%s (build %d)", b.Job, b.Project, b.Jobset, b.ID), Builds: cons,
		Empty: "The channel's build has no constituents."})
	return nil
}

// customChannelProduct redirects to the download of the channel
// product of that name of a custom channel's build (Hydra's nixexprs).
func (s *server) customChannelProduct(w http.ResponseWriter, r *http.Request) error {
	b, err := s.customChannelBuild(r)
	if err != nil {
		return err
	}
	name := chi.URLParam(r, "product")
	for _, p := range b.Products {
		if p.Type == "channel" && p.Name == name {
			http.Redirect(w, r, "/build/"+strconv.FormatInt(b.ID, 10)+"/download/"+strconv.Itoa(p.Nr)+"/"+name, http.StatusFound)
			return nil
		}
	}
	return errNotFound(fmt.Sprintf("channel product %q of build %d", name, b.ID))
}

// customChannelCacheURL answers where the channel's binary cache is: the
// root, as for every channel.
func (s *server) customChannelCacheURL(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.customChannelBuild(r); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(s.cacheURL(r)))
	return nil
}
