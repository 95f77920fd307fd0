package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/user"
	"buildledger/events"
)

func (s *server) projectsPage(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.cfg.Queries.Projects(r.Context())
	if err != nil {
		return err
	}
	queued, _ := s.cfg.Queries.QueueSize(r.Context())
	running, _ := s.cfg.Queries.RunningCount(r.Context())
	s.respond(w, r, ps, "projects", &projectsPage{Projects: ps, Queued: queued, Running: running})
	return nil
}

// projectsPage is the list of projects, the front page (projects.html).
type projectsPage struct {
	page
	Projects []Project
	// Queued and Running count the builds.
	Queued, Running int
}

func (s *server) projectPage(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "project")
	p, err := s.cfg.Queries.Project(r.Context(), name)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		s.json(w, http.StatusOK, p)
		return nil
	}
	js, err := s.cfg.Queries.JobsetOverviews(r.Context(), name)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "project", &projectPage{Project: p, Jobsets: js})
	return nil
}

// projectPage is a project with its jobsets (project.html).
type projectPage struct {
	page
	Project Project
	Jobsets []JobsetOverview
}

// projectBody is the body of PUT /project/<p>, as Hydra's API has it.
type projectBody struct {
	Name                    string       `json:"name"`
	DisplayName             string       `json:"displayname"`
	Description             string       `json:"description"`
	Homepage                string       `json:"homepage"`
	Owner                   string       `json:"owner"`
	Enabled                 flexBool     `json:"enabled"`
	Visible                 flexBool     `json:"visible"`
	EnableDynamicRunCommand flexBool     `json:"enable_dynamic_run_command"`
	Declarative             *Declarative `json:"declarative"`
	Members                 *[]string    `json:"members"`
}

func (s *server) readProjectBody(w http.ResponseWriter, r *http.Request) (projectBody, error) {
	var b projectBody
	if isJSONBody(r) {
		return b, decodeJSON(w, r, &b)
	}
	if err := parseForm(w, r); err != nil {
		return b, err
	}
	f := r.PostForm
	b = projectBody{Name: f.Get("name"), DisplayName: f.Get("displayname"), Description: f.Get("description"),
		Homepage: f.Get("homepage"), Owner: f.Get("owner"), Enabled: flexBool(truthy(f.Get("enabled"))),
		Visible: flexBool(truthy(f.Get("visible"))), EnableDynamicRunCommand: flexBool(truthy(f.Get("enable_dynamic_run_command")))}
	if f.Get("declfile") != "" {
		b.Declarative = &Declarative{File: f.Get("declfile"), Type: f.Get("decltype"), Value: f.Get("declvalue")}
	}
	if f.Has("members") {
		m := strings.Fields(strings.ReplaceAll(f.Get("members"), ",", " "))
		b.Members = &m
	}
	return b, nil
}

// putProject creates (admin or create-projects) or updates (owner) a
// project.
func (s *server) putProject(w http.ResponseWriter, r *http.Request) error {
	return s.saveProject(w, r, chi.URLParam(r, "project"))
}

// createProjectForm handles the create form, which names the project in
// a field.
func (s *server) createProjectForm(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	return s.saveProject(w, r, strings.TrimSpace(r.PostForm.Get("name")))
}

func (s *server) saveProject(w http.ResponseWriter, r *http.Request, name string) error {
	if who(r) == nil {
		return errLoginRequired
	}
	existing, err := s.cfg.Queries.Project(r.Context(), name)
	exists := err == nil
	if err != nil && !errors.Is(err, domainerr.ErrNotFound) {
		return err
	}
	if exists {
		err = require(r, func(p *principal) bool { return p.isOwner(existing) })
	} else {
		err = require(r, func(p *principal) bool { return p.hasRole(user.RoleCreateProjects) })
	}
	if err != nil {
		return err
	}
	b, err := s.readProjectBody(w, r)
	if err != nil {
		return err
	}
	me := who(r)
	owner := me.User.UserName
	if exists {
		owner = existing.Owner
	}
	if b.Owner == "" {
		b.Owner = owner
	}
	if b.Owner != owner && !me.isAdmin() {
		return errForbidden("only admins may choose or change a project's owner")
	}
	if b.Members != nil && exists && !me.mayChangeMembers(existing) {
		return errForbidden("only the project's owner or an admin may change its members")
	}
	if b.DisplayName == "" {
		b.DisplayName = name
	}
	cfg := events.ProjectConfig{DisplayName: b.DisplayName, Description: b.Description, Homepage: b.Homepage,
		Owner: b.Owner, Enabled: bool(b.Enabled), Hidden: !bool(b.Visible), EnableDynamicRunCommand: bool(b.EnableDynamicRunCommand)}
	// An empty spec file makes the project a normal one again, as in
	// Hydra.
	if d := b.Declarative; d != nil && strings.TrimSpace(d.File) != "" {
		cfg.DeclFile, cfg.DeclType, cfg.DeclValue = d.File, d.Type, d.Value
	}
	md := s.metadata(r)
	switch {
	case exists && b.Name != "" && b.Name != name:
		// Another name renames the project with the rest of the body, in
		// one command, as Hydra's PUT does in one transaction: a refused
		// name or body changes nothing. Whoever may edit the project may
		// rename it (Hydra's requireProjectOwner).
		_, err = s.cfg.Commands.RenameProject(r.Context(), md, commands.RenameProject{Name: name, NewName: b.Name, Config: cfg})
		name = b.Name
	case exists:
		_, err = s.cfg.Commands.UpdateProject(r.Context(), md, commands.UpdateProject{Name: name, Config: cfg})
	default:
		_, err = s.cfg.Commands.CreateProject(r.Context(), md, commands.CreateProject{Name: name, Config: cfg})
	}
	if err == nil && b.Members != nil {
		_, err = s.cfg.Commands.SetProjectMembers(r.Context(), md, commands.SetProjectMembers{Name: name, Members: *b.Members})
	}
	if err != nil {
		return err
	}
	uri := "/project/" + name
	if exists {
		s.done(w, r, http.StatusOK, uri, nil)
		return nil
	}
	s.done(w, r, http.StatusCreated, uri, &created{Name: name, Type: "project", URI: uri})
	return nil
}

// postProject is the HTML form's way to PUT.
func (s *server) postProject(w http.ResponseWriter, r *http.Request) error { return s.putProject(w, r) }

func (s *server) deleteProject(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "project")
	if who(r) == nil {
		return errLoginRequired
	}
	p, err := s.cfg.Queries.Project(r.Context(), name)
	if err != nil {
		return err
	}
	if err := require(r, func(pr *principal) bool { return pr.isOwner(p) }); err != nil {
		return err
	}
	if _, err := s.cfg.Commands.DeleteProject(r.Context(), s.metadata(r), commands.DeleteProject{Name: name}); err != nil {
		return err
	}
	s.done(w, r, http.StatusOK, "/", nil)
	return nil
}

// projectForm shows the create or edit form of a project.
func (s *server) projectForm(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "project")
	data := &projectFormPage{}
	if name == "" {
		if err := require(r, func(p *principal) bool { return p.hasRole(user.RoleCreateProjects) }); err != nil {
			return err
		}
		data.Project = Project{Enabled: true, Owner: who(r).User.UserName}
		data.New = true
	} else {
		p, err := s.cfg.Queries.Project(r.Context(), name)
		if err != nil {
			return err
		}
		if err := require(r, func(pr *principal) bool { return pr.isOwner(p) }); err != nil {
			return err
		}
		data.Project = p
	}
	s.render(w, r, http.StatusOK, "project-form", data)
	return nil
}

// projectFormPage is the form that creates (New) or edits a project
// (project-form.html).
type projectFormPage struct {
	page
	New     bool
	Project Project
}
