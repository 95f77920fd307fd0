package web

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"buildledger/commands"
)

// newsPage lists the news items with the form that posts one (Hydra's
// /admin/news; admins only).
func (s *server) newsPage(w http.ResponseWriter, r *http.Request) error {
	if err := require(r, (*principal).isAdmin); err != nil {
		return err
	}
	items, err := s.cfg.Queries.News(r.Context())
	if err != nil {
		return err
	}
	s.respond(w, r, items, "news", &newsPage{Items: items})
	return nil
}

// newsPage is the news admin page (news.html).
type newsPage struct {
	page
	Items []NewsItem
}

// newsPosted answers the posting of a news item.
type newsPosted struct {
	ID int64 `json:"id"`
}

// submitNews posts a news item (admins only). Hydra answers with a
// redirect to /admin/news, JSON clients included; they also get the id.
func (s *server) submitNews(w http.ResponseWriter, r *http.Request) error {
	if err := require(r, (*principal).isAdmin); err != nil {
		return err
	}
	var body struct {
		Contents string `json:"contents"`
	}
	if err := decodeBody(w, r, &body, func() {
		body.Contents = r.PostForm.Get("contents")
	}); err != nil {
		return err
	}
	id, _, err := s.cfg.Commands.AddNews(r.Context(), s.metadata(r), commands.AddNews{Contents: body.Contents, Author: who(r).User.UserName})
	if err != nil {
		return err
	}
	s.found(w, r, "/admin/news", newsPosted{ID: id})
	return nil
}

// deleteNews takes a news item down (admins only).
func (s *server) deleteNews(w http.ResponseWriter, r *http.Request) error {
	if err := require(r, (*principal).isAdmin); err != nil {
		return err
	}
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		return errNotFound("news item")
	}
	if _, err := s.cfg.Commands.RemoveNews(r.Context(), s.metadata(r), id); err != nil {
		return err
	}
	s.found(w, r, "/admin/news", nil)
	return nil
}

// found answers an action with Hydra's 302 to where it goes next, for
// browsers and JSON clients alike (Hydra's admin actions do); a JSON
// client also gets body, if any.
func (s *server) found(w http.ResponseWriter, r *http.Request, to string, body any) {
	s.settle(r)
	w.Header().Set("Location", to)
	if body != nil && wantsJSON(r) {
		s.json(w, http.StatusFound, body)
		return
	}
	w.WriteHeader(http.StatusFound)
}

// starred answers a star, as Hydra: {"success": 1}.
type starred struct {
	Success int `json:"success"`
}

// starJob stars a job for the signed-in user when the parameter star is
// "1", and takes the star back otherwise, as Hydra's star button. Any
// signed-in user may star any job they can see; the star is theirs.
func (s *server) starJob(w http.ResponseWriter, r *http.Request) error {
	p := who(r)
	if p == nil {
		return errLoginRequired
	}
	pname, jname, job := chi.URLParam(r, "project"), chi.URLParam(r, "jobset"), chi.URLParam(r, "job")
	if _, err := s.cfg.Queries.Jobset(r.Context(), pname, jname); err != nil {
		return err
	}
	var body struct {
		Star string `json:"star"`
	}
	if err := decodeBody(w, r, &body, func() {
		body.Star = r.Form.Get("star")
	}); err != nil {
		return err
	}
	if body.Star == "" {
		body.Star = r.URL.Query().Get("star")
	}
	c := commands.StarJob{UserName: p.User.UserName, Project: pname, Jobset: jname, Job: job, On: body.Star == "1"}
	if _, err := s.cfg.Commands.StarJob(r.Context(), s.metadata(r), c); err != nil {
		return err
	}
	s.settle(r)
	if !wantsJSON(r) && !isJSONBody(r) {
		http.Redirect(w, r, "/job/"+pname+"/"+jname+"/"+job, http.StatusSeeOther)
		return nil
	}
	s.json(w, http.StatusOK, starred{Success: 1})
	return nil
}
