package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/user"
	"buildledger/events"
)

func (s *server) jobsetPage(w http.ResponseWriter, r *http.Request) error {
	pname, jname := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	j, err := s.cfg.Queries.Jobset(r.Context(), pname, jname)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		s.json(w, http.StatusOK, j)
		return nil
	}
	p, err := s.cfg.Queries.Project(r.Context(), pname)
	if err != nil {
		return err
	}
	evals, total, err := s.cfg.Queries.Evals(r.Context(), pname, jname, Page{Limit: 10}, false)
	if err != nil {
		return err
	}
	current, err := s.cfg.Queries.Builds(r.Context(), BuildFilter{Project: pname, Jobset: jname, Current: true, Page: Page{Limit: 200}})
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "jobset", &jobsetPage{Project: p, Jobset: j, Evals: evals,
		NrEvals: total, Builds: current, Inputs: sortedInputs(j.Inputs)})
	return nil
}

// jobsetPage is a jobset's overview (jobset.html).
type jobsetPage struct {
	page
	// Project is the jobset's, for the permission checks of the actions.
	Project Project
	Jobset  Jobset
	// Evals are the latest evaluations, of NrEvals in all.
	Evals   []Eval
	NrEvals int
	// Builds are the current builds.
	Builds []Build
	Inputs []JobsetInput
}

func sortedInputs(m map[string]JobsetInput) []JobsetInput {
	out := make([]JobsetInput, 0, len(m))
	for _, in := range m {
		out = append(out, in)
	}
	sort.Slice(out, func(i, k int) bool { return out[i].Name < out[k].Name })
	return out
}

// jobsetBody is the body of PUT /jobset/<p>/<j>: Hydra's Jobset schema.
type jobsetBody struct {
	Name             string                    `json:"name"`
	Description      string                    `json:"description"`
	NixExprInput     string                    `json:"nixexprinput"`
	NixExprPath      string                    `json:"nixexprpath"`
	Enabled          *flexInt                  `json:"enabled"`
	EnableEmail      flexBool                  `json:"enableemail"`
	Visible          *flexBool                 `json:"visible"`
	EmailOverride    string                    `json:"emailoverride"`
	KeepNr           *flexInt                  `json:"keepnr"`
	CheckInterval    *flexInt                  `json:"checkinterval"`
	SchedulingShares *flexInt                  `json:"schedulingshares"`
	VerifyFraction   float64                   `json:"verifyfraction"`
	Type             flexInt                   `json:"type"`
	Flake            string                    `json:"flake"`
	Inputs           map[string]jobsetInputReq `json:"inputs"`
	// EnableDynamicRunCommand is Hydra's enable_dynamic_run_command.
	EnableDynamicRunCommand flexBool `json:"enable_dynamic_run_command"`
}

type jobsetInputReq struct {
	Type             string   `json:"type"`
	Value            string   `json:"value"`
	EmailResponsible flexBool `json:"emailresponsible"`
}

func intOr(p *flexInt, def int) int {
	if p == nil {
		return def
	}
	return int(*p)
}

// config is the jobset b describes. A field left out takes the value
// Hydra's updateJobset gives it: disabled, hidden, keepnr 0,
// checkinterval 0 (no polling) and one scheduling share.
func (b jobsetBody) config() events.JobsetConfig {
	c := events.JobsetConfig{Description: b.Description, Type: int(b.Type), Enabled: intOr(b.Enabled, 0),
		Hidden: b.Visible == nil || !bool(*b.Visible), EnableEmail: bool(b.EnableEmail), EmailOverride: b.EmailOverride,
		KeepNr: intOr(b.KeepNr, 0), CheckInterval: intOr(b.CheckInterval, 0), SchedulingShares: intOr(b.SchedulingShares, 1),
		VerifyFraction: b.VerifyFraction, EnableDynamicRunCommand: bool(b.EnableDynamicRunCommand)}
	// The fields of the other type are dropped, as Hydra's updateJobset
	// does: a flake jobset keeps no inputs.
	if c.Type == 1 {
		c.Flake = b.Flake
		return c
	}
	c.NixExprInput, c.NixExprPath = b.NixExprInput, b.NixExprPath
	names := make([]string, 0, len(b.Inputs))
	for n := range b.Inputs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		in := b.Inputs[n]
		c.Inputs = append(c.Inputs, events.JobsetInput{Name: n, Type: in.Type, Value: in.Value, EmailResponsible: bool(in.EmailResponsible)})
	}
	return c
}

// readJobsetBody reads JSON or the HTML form, whose inputs are a textarea
// with one "name type value" line per input.
func (s *server) readJobsetBody(w http.ResponseWriter, r *http.Request) (jobsetBody, error) {
	var b jobsetBody
	if isJSONBody(r) {
		return b, decodeJSON(w, r, &b)
	}
	if err := parseForm(w, r); err != nil {
		return b, err
	}
	f := r.PostForm
	num := func(name string) (*flexInt, error) {
		v := strings.TrimSpace(f.Get(name))
		if v == "" {
			return nil, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, &httpError{Status: http.StatusUnprocessableEntity, Msg: name + " must be a number", Field: name}
		}
		fi := flexInt(n)
		return &fi, nil
	}
	var err error
	b = jobsetBody{Name: f.Get("name"), Description: f.Get("description"), NixExprInput: f.Get("nixexprinput"),
		NixExprPath: f.Get("nixexprpath"), EnableEmail: flexBool(truthy(f.Get("enableemail"))),
		EmailOverride: f.Get("emailoverride"), Flake: f.Get("flake"),
		EnableDynamicRunCommand: flexBool(truthy(f.Get("enable_dynamic_run_command")))}
	vis := flexBool(truthy(f.Get("visible")))
	b.Visible = &vis
	if b.Enabled, err = num("enabled"); err != nil {
		return b, err
	}
	if b.KeepNr, err = num("keepnr"); err != nil {
		return b, err
	}
	if b.CheckInterval, err = num("checkinterval"); err != nil {
		return b, err
	}
	if b.SchedulingShares, err = num("schedulingshares"); err != nil {
		return b, err
	}
	if v := strings.TrimSpace(f.Get("verifyfraction")); v != "" {
		if b.VerifyFraction, err = strconv.ParseFloat(v, 64); err != nil {
			return b, &httpError{Status: http.StatusUnprocessableEntity, Msg: "verifyfraction must be a number between 0 and 1", Field: "verifyfraction"}
		}
	}
	t, err := num("type")
	if err != nil {
		return b, err
	}
	b.Type = flexInt(intOr(t, 0))
	b.Inputs = map[string]jobsetInputReq{}
	for i, line := range strings.Split(f.Get("inputs"), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 {
			return b, &httpError{Status: http.StatusUnprocessableEntity, Field: "inputs",
				Msg: fmt.Sprintf("input line %d: want \"name type value\"", i+1)}
		}
		b.Inputs[fields[0]] = jobsetInputReq{Type: fields[1], Value: strings.Join(fields[2:], " ")}
	}
	return b, nil
}

func (s *server) putJobset(w http.ResponseWriter, r *http.Request) error {
	return s.saveJobset(w, r, chi.URLParam(r, "project"), chi.URLParam(r, "jobset"))
}

func (s *server) postJobset(w http.ResponseWriter, r *http.Request) error { return s.putJobset(w, r) }

func (s *server) createJobsetForm(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	return s.saveJobset(w, r, chi.URLParam(r, "project"), strings.TrimSpace(r.PostForm.Get("name")))
}

// saveJobset creates or updates a jobset; both need project ownership.
func (s *server) saveJobset(w http.ResponseWriter, r *http.Request, pname, jname string) error {
	if who(r) == nil {
		return errLoginRequired
	}
	p, err := s.cfg.Queries.Project(r.Context(), pname)
	if err != nil {
		return err
	}
	if err := require(r, func(pr *principal) bool { return pr.isOwner(p) }); err != nil {
		return err
	}
	_, err = s.cfg.Queries.Jobset(r.Context(), pname, jname)
	exists := err == nil
	if err != nil && !errors.Is(err, domainerr.ErrNotFound) {
		return err
	}
	b, err := s.readJobsetBody(w, r)
	if err != nil {
		return err
	}
	md := s.metadata(r)
	if exists {
		_, err = s.cfg.Commands.UpdateJobset(r.Context(), md, commands.UpdateJobset{Project: pname, Name: jname, Config: b.config()})
	} else {
		_, err = s.cfg.Commands.CreateJobset(r.Context(), md, commands.CreateJobset{Project: pname, Name: jname, Config: b.config()})
	}
	if err != nil {
		return err
	}
	if exists && b.Name != "" && b.Name != jname {
		// A new name renames the jobset, as Hydra's PUT does, once the
		// rest of the body is known to be good: a refused body renames
		// nothing. The old name redirects to the new one from then on.
		if _, err := s.cfg.Commands.RenameJobset(r.Context(), md, commands.RenameJobset{Project: pname, Name: jname, NewName: b.Name}); err != nil {
			return err
		}
		jname = b.Name
	}
	uri := "/jobset/" + pname + "/" + jname
	if exists {
		s.done(w, r, http.StatusOK, uri, nil)
		return nil
	}
	s.done(w, r, http.StatusCreated, uri, &created{Name: jname, Type: "jobset", URI: uri})
	return nil
}

// deleteJobset needs admin, as in Hydra.
func (s *server) deleteJobset(w http.ResponseWriter, r *http.Request) error {
	pname, jname := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	if err := require(r, (*principal).isAdmin); err != nil {
		return err
	}
	if _, err := s.cfg.Commands.DeleteJobset(r.Context(), s.metadata(r), commands.DeleteJobset{Project: pname, Name: jname}); err != nil {
		return err
	}
	s.done(w, r, http.StatusOK, "/project/"+pname, nil)
	return nil
}

// evaluateJobset requests an evaluation (admin, eval-jobset or owner).
func (s *server) evaluateJobset(w http.ResponseWriter, r *http.Request) error {
	pname, jname := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	p, err := s.cfg.Queries.Project(r.Context(), pname)
	if err != nil {
		return err
	}
	if err := require(r, roleOrOwner(user.RoleEvalJobset, p)); err != nil {
		return err
	}
	if _, err := s.cfg.Commands.RequestEvaluation(r.Context(), s.metadata(r),
		commands.RequestEvaluation{Project: pname, Jobset: jname, Reason: "ui", Force: true}); err != nil {
		return err
	}
	s.done(w, r, http.StatusOK, "/jobset/"+pname+"/"+jname, nil)
	return nil
}

// jobsetForm shows the create or edit form of a jobset.
func (s *server) jobsetForm(w http.ResponseWriter, r *http.Request) error {
	pname, jname := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	p, err := s.cfg.Queries.Project(r.Context(), pname)
	if err != nil {
		return err
	}
	if err := require(r, func(pr *principal) bool { return pr.isOwner(p) }); err != nil {
		return err
	}
	data := &jobsetFormPage{Project: p}
	if jname == "" {
		data.New = true
		data.Jobset = Jobset{Project: pname, Enabled: 1, Visible: true, KeepNr: 3, CheckInterval: 300, SchedulingShares: 100}
	} else {
		j, err := s.cfg.Queries.Jobset(r.Context(), pname, jname)
		if err != nil {
			return err
		}
		data.Jobset, data.InputsText = j, inputsText(j.Inputs)
	}
	s.render(w, r, http.StatusOK, "jobset-form", data)
	return nil
}

// jobsetFormPage is the form that creates (New) or edits a jobset
// (jobset-form.html).
type jobsetFormPage struct {
	page
	New     bool
	Project Project
	Jobset  Jobset
	// InputsText is the inputs, one "name type value" a line.
	InputsText string
	// From says what a new jobset's form was filled from (a clone, an
	// evaluation); empty for a blank one.
	From string
}

// inputsText writes inputs one "name type value" a line, as the form
// reads them back.
func inputsText(inputs map[string]JobsetInput) string {
	var lines []string
	for _, in := range sortedInputs(inputs) {
		lines = append(lines, strings.TrimSpace(in.Name+" "+in.Type+" "+in.Value))
	}
	return strings.Join(lines, "\n")
}

// ownedJobset loads a jobset for a form that only the project's owner (or
// an admin) may fill: the forms show every input value.
func (s *server) ownedJobset(r *http.Request, pname, jname string) (Project, Jobset, error) {
	p, err := s.cfg.Queries.Project(r.Context(), pname)
	if err != nil {
		return Project{}, Jobset{}, err
	}
	if err := require(r, func(pr *principal) bool { return pr.isOwner(p) }); err != nil {
		return Project{}, Jobset{}, err
	}
	j, err := s.cfg.Queries.Jobset(r.Context(), pname, jname)
	return p, j, err
}

// newJobsetForm answers a create form filled from j, which has no name
// yet: browsers get the form, which creates the jobset through the
// create-jobset command when sent; JSON clients get the jobset as a PUT
// body for /jobset/<project>/<new name>.
func (s *server) newJobsetForm(w http.ResponseWriter, r *http.Request, p Project, j Jobset, from string) {
	j.Name = ""
	s.respond(w, r, j, "jobset-form", &jobsetFormPage{New: true, Project: p, Jobset: j, InputsText: inputsText(j.Inputs), From: from})
}

// cloneJobset is Hydra's /jobset/<p>/<j>/clone: the create form filled
// with the jobset's configuration and inputs.
func (s *server) cloneJobset(w http.ResponseWriter, r *http.Request) error {
	p, j, err := s.ownedJobset(r, chi.URLParam(r, "project"), chi.URLParam(r, "jobset"))
	if err != nil {
		return err
	}
	s.newJobsetForm(w, r, p, j, "a clone of "+j.Project+":"+j.Name)
	return nil
}

// evalCreateJobset is Hydra's /eval/<n>/create-jobset: the create form
// filled with the evaluation's jobset, its inputs pinned to what the
// evaluation fetched (the URI, or value, followed by the revision), so
// that the new jobset evaluates that revision again.
func (s *server) evalCreateJobset(w http.ResponseWriter, r *http.Request) error {
	e, err := s.loadEval(r)
	if err != nil {
		return err
	}
	p, j, err := s.ownedJobset(r, e.Project, e.Jobset)
	if err != nil {
		return err
	}
	inputs := make(map[string]JobsetInput, len(e.Inputs))
	for name, in := range e.Inputs {
		v := ""
		if in.URI != nil && *in.URI != "" {
			v = *in.URI
		} else if in.Value != nil {
			v = *in.Value
		}
		if in.Revision != nil && *in.Revision != "" {
			v = strings.TrimSpace(v + " " + *in.Revision)
		}
		inputs[name] = JobsetInput{Name: name, Type: in.Type, Value: v, EmailResponsible: j.Inputs[name].EmailResponsible}
	}
	j.Inputs = inputs
	s.newJobsetForm(w, r, p, j, "evaluation "+strconv.FormatInt(e.ID, 10)+" of "+j.Project+":"+j.Name)
	return nil
}

// evalsJSON is Hydra's paged list of evaluations.
type evalsJSON struct {
	Evals []Eval `json:"evals"`
	First string `json:"first"`
	Next  string `json:"next,omitempty"`
	Prev  string `json:"previous,omitempty"`
	Last  string `json:"last"`
}

const evalsPerPage = 20

func (s *server) evalList(w http.ResponseWriter, r *http.Request, pname, jname string) error {
	pg, n := pageOf(r, evalsPerPage)
	evals, total, err := s.cfg.Queries.Evals(r.Context(), pname, jname, pg, wantsJSON(r))
	if err != nil {
		return err
	}
	last := max(1, (total+evalsPerPage-1)/evalsPerPage)
	out := evalsJSON{Evals: evals, First: "?page=1", Last: "?page=" + strconv.Itoa(last)}
	if n < last {
		out.Next = "?page=" + strconv.Itoa(n+1)
	}
	if n > 1 {
		out.Prev = "?page=" + strconv.Itoa(n-1)
	}
	s.respond(w, r, out, "evals", &evalsPage{Evals: evals, Page: n, LastPage: last, Total: total,
		ProjectName: pname, JobsetName: jname, Paging: out})
	return nil
}

// evalsPage is a page of evaluations, of a jobset or of all
// (evals.html).
type evalsPage struct {
	page
	Evals                   []Eval
	Page, LastPage, Total   int
	ProjectName, JobsetName string
	// Paging has the links to the previous and next pages.
	Paging evalsJSON
}

func (s *server) jobsetEvals(w http.ResponseWriter, r *http.Request) error {
	pname, jname := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	if _, err := s.cfg.Queries.Jobset(r.Context(), pname, jname); err != nil {
		return err
	}
	return s.evalList(w, r, pname, jname)
}

// allEvals lists the evaluations of every jobset. JSON clients get
// Hydra's array of evaluation summaries (a page of them).
func (s *server) allEvals(w http.ResponseWriter, r *http.Request) error {
	if !wantsJSON(r) {
		return s.evalList(w, r, "", "")
	}
	pg, _ := pageOf(r, evalsPerPage)
	evals, _, err := s.cfg.Queries.Evals(r.Context(), "", "", pg, true)
	if err != nil {
		return err
	}
	infos, err := s.evalInfos(r.Context(), evals)
	if err != nil {
		return err
	}
	s.json(w, http.StatusOK, infos)
	return nil
}

// latestEval redirects to the newest finished evaluation with new
// builds, as Hydra's latest-eval, keeping the rest of the path and the
// query (/jobset/P/J/latest-eval/job/hello → /eval/N/job/hello).
func (s *server) latestEval(w http.ResponseWriter, r *http.Request) error {
	pname, jname := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	if _, err := s.cfg.Queries.Jobset(r.Context(), pname, jname); err != nil {
		return err
	}
	id, err := s.cfg.Queries.LatestFinishedEval(r.Context(), pname, jname)
	if err != nil {
		return err
	}
	if id == 0 {
		return errNotFound("finished evaluation of jobset " + pname + ":" + jname)
	}
	to := "/eval/" + strconv.FormatInt(id, 10)
	if rest := chi.URLParam(r, "*"); rest != "" {
		to += "/" + (&url.URL{Path: rest}).EscapedPath()
	}
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, to, http.StatusFound)
	return nil
}

func (s *server) jobsetErrors(w http.ResponseWriter, r *http.Request) error {
	pname, jname := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	j, err := s.cfg.Queries.Jobset(r.Context(), pname, jname)
	if err != nil {
		return err
	}
	// Hydra answers the whole jobset, whose errormsg and fetcherrormsg
	// are the errors.
	s.respond(w, r, j, "errors", &errorsPage{Title: "Errors of jobset " + pname + ":" + jname,
		Back: "/jobset/" + pname + "/" + jname, Errors: j.ErrorMsg, FetchErrors: j.FetchErrorMsg})
	return nil
}
