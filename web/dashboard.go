package web

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// statusPage lists what builds now (Hydra's /status): the builds with a
// busy step for JSON clients, as Hydra sends them, and the steps for
// browsers.
func (s *server) statusPage(w http.ResponseWriter, r *http.Request) error {
	if wantsJSON(r) {
		bs, err := s.cfg.Queries.RunningBuilds(r.Context())
		if err != nil {
			return err
		}
		s.json(w, http.StatusOK, bs)
		return nil
	}
	steps, err := s.cfg.Queries.RunningSteps(r.Context())
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "status", &stepsPage{Steps: steps})
	return nil
}

// dashboardJSON is the answer of /dashboard/<user>.
type dashboardJSON struct {
	UserName string           `json:"username"`
	Jobsets  []JobsetOverview `json:"jobsets"`
	// StarredJobs are the jobs the user starred with their newest 20
	// builds, as Hydra's dashboard shows them.
	StarredJobs []StarredJob `json:"starredjobs"`
}

// dashboardPage is a user's dashboard (dashboard.html).
type dashboardPage struct {
	page
	UserName    string
	Jobsets     []JobsetOverview
	StarredJobs []StarredJob
}

// myDashboard redirects to the signed-in user's dashboard.
func (s *server) myDashboard(w http.ResponseWriter, r *http.Request) error {
	p := who(r)
	if p == nil {
		return errLoginRequired
	}
	http.Redirect(w, r, "/dashboard/"+p.User.UserName, http.StatusFound)
	return nil
}

// dashboardOwner returns the user whose dashboard r asks for. As in
// Hydra, only the user and admins see a dashboard, and its tabs, unless
// the user made it public.
func (s *server) dashboardOwner(r *http.Request) (User, error) {
	name := chi.URLParam(r, "user")
	u, err := s.cfg.Queries.User(r.Context(), name)
	if err != nil {
		return User{}, err
	}
	if p := who(r); !u.PublicDashboard && (p == nil || !selfOrAdmin(name)(p)) {
		return User{}, errForbidden("this dashboard is not public")
	}
	return u, nil
}

// dashboard shows the jobsets of the projects a user owns or belongs to.
func (s *server) dashboard(w http.ResponseWriter, r *http.Request) error {
	u, err := s.dashboardOwner(r)
	if err != nil {
		return err
	}
	name := u.UserName
	js, err := s.cfg.Queries.UserJobsets(r.Context(), name)
	if err != nil {
		return err
	}
	stars, err := s.cfg.Queries.StarredJobs(r.Context(), name)
	if err != nil {
		return err
	}
	for i, j := range stars {
		if stars[i].Builds, err = s.cfg.Queries.Builds(r.Context(), BuildFilter{Project: j.Project, Jobset: j.Jobset, Job: j.Job, Page: Page{Limit: 20}}); err != nil {
			return err
		}
	}
	s.respond(w, r, dashboardJSON{UserName: name, Jobsets: js, StarredJobs: stars}, "dashboard",
		&dashboardPage{UserName: name, Jobsets: js, StarredJobs: stars})
	return nil
}

// myJobsTab lists the current builds of enabled jobsets whose
// maintainers name the user's email address (Hydra's my-jobs-tab), for
// whoever may see the user's dashboard.
func (s *server) myJobsTab(w http.ResponseWriter, r *http.Request) error {
	u, err := s.dashboardOwner(r)
	if err != nil {
		return err
	}
	name := u.UserName
	if u.EmailAddress == "" {
		return errBadRequest("no email address is set for user %s", name)
	}
	bs, err := s.cfg.Queries.Builds(r.Context(), BuildFilter{Current: true, Enabled: true, Maintainer: u.EmailAddress, Page: Page{Limit: 1000}})
	if err != nil {
		return err
	}
	s.respond(w, r, bs, "builds", &buildsPage{Title: "Jobs maintained by " + name, Builds: bs,
		Empty: "No current build names " + u.EmailAddress + " among its maintainers."})
	return nil
}

// myJobsetsTab lists the enabled jobsets of the enabled projects a user
// owns (Hydra's my-jobsets-tab), for whoever may see the user's
// dashboard. The dashboard itself lists the projects the user is a
// member of too.
func (s *server) myJobsetsTab(w http.ResponseWriter, r *http.Request) error {
	u, err := s.dashboardOwner(r)
	if err != nil {
		return err
	}
	js, err := s.cfg.Queries.OwnedJobsets(r.Context(), u.UserName)
	if err != nil {
		return err
	}
	s.respond(w, r, js, "my-jobsets", &dashboardPage{UserName: u.UserName, Jobsets: js})
	return nil
}

// apiNrBuilds counts finished builds per hour or day (Hydra's
// /api/nrbuilds): a JSON array of at most nr counts, oldest period first.
// As in Hydra, periods are aligned on the epoch, a build counts in the
// period it was queued in, and periods without builds are left out.
func (s *server) apiNrBuilds(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	nr, err := strconv.Atoi(q.Get("nr"))
	if err != nil || nr < 1 {
		return errBadRequest("parameter nr must be a positive number")
	}
	var step int64
	switch q.Get("period") {
	case "hour":
		step = 3600
	case "day":
		step = 86400
	default:
		return errBadRequest("parameter period must be hour or day")
	}
	f := BuildFilter{Project: q.Get("project"), Jobset: q.Get("jobset"), Job: q.Get("job"), System: q.Get("system")}
	counts, err := s.cfg.Queries.FinishedPerPeriod(r.Context(), f, step, nr)
	if err != nil {
		return err
	}
	s.json(w, http.StatusOK, counts)
	return nil
}
