package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"buildledger/commands"
	"buildledger/domain/domainerr"
)

// httpError is an error with the HTTP status it answers.
type httpError struct {
	Status int
	Msg    string
	Field  string
}

func (e *httpError) Error() string { return e.Msg }

func errNotFound(what string) error {
	return &httpError{Status: http.StatusNotFound, Msg: what + " not found"}
}

func errBadRequest(format string, args ...any) error {
	return &httpError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

func errForbidden(msg string) error { return &httpError{Status: http.StatusForbidden, Msg: msg} }

// errLoginRequired refuses a request that needs a signed-in user: 403,
// as Hydra's requireUser answers (401 is kept for credentials that are
// sent and wrong: a bad API token or webhook signature).
var errLoginRequired = &httpError{Status: http.StatusForbidden, Msg: "this page requires you to sign in"}

// statusOf maps an error to its HTTP status and the message a client may
// see. Unknown errors are 500 with a generic message.
func statusOf(err error) (int, string, string) {
	var he *httpError
	var fe *domainerr.FieldError
	switch {
	case errors.As(err, &he):
		return he.Status, he.Msg, he.Field
	case errors.As(err, &fe):
		return http.StatusUnprocessableEntity, fe.Error(), fe.Field
	case errors.Is(err, domainerr.ErrNotFound):
		return http.StatusNotFound, err.Error(), ""
	case errors.Is(err, domainerr.ErrAlreadyExists), errors.Is(err, domainerr.ErrConflict):
		return http.StatusConflict, err.Error(), ""
	case errors.Is(err, domainerr.ErrInvalid):
		return http.StatusUnprocessableEntity, err.Error(), ""
	case errors.Is(err, domainerr.ErrBusy):
		return http.StatusTooManyRequests, err.Error(), ""
	case errors.Is(err, domainerr.ErrForbidden):
		return http.StatusForbidden, err.Error(), ""
	case errors.Is(err, commands.ErrContention):
		// Others kept changing the same stream through every retry: the
		// command may well pass in a moment (fail adds Retry-After).
		return http.StatusServiceUnavailable, "too many concurrent changes to the same thing; try again shortly", ""
	case statementCancelled(err):
		return http.StatusServiceUnavailable, "the database took too long to answer; try again later", ""
	}
	return http.StatusInternalServerError, "internal server error", ""
}

// statementCancelled reports whether the database cancelled a statement
// (SQLSTATE 57014): the web's pool has a statement timeout
// (cmd/buildledger), so a query too slow to answer is the server being
// overloaded, not a bug. Postgres drivers' errors report their SQLSTATE
// this way (pgconn.PgError).
func statementCancelled(err error) bool {
	var st interface{ SQLState() string }
	return errors.As(err, &st) && st.SQLState() == "57014"
}

// wantsJSON reports whether the client asked for JSON.
func wantsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return true
		}
	}
	return false
}

// errUnavailable is an error of a store the server needs that passes in a
// while (Config.Transient): the request may work in a moment, and the
// error itself (socket paths, roles) is not shown.
var errUnavailable = &httpError{Status: http.StatusServiceUnavailable, Msg: "the database is unavailable; try again shortly"}

// fail answers an error: JSON {"error": …} for JSON clients, an error page
// otherwise.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if s.cfg.Transient != nil && s.cfg.Transient(err) {
		err = fmt.Errorf("%w: %w", errUnavailable, err)
	}
	code, msg, field := statusOf(err)
	switch {
	case code == http.StatusServiceUnavailable:
		s.log.Warn("request refused", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
	case code >= 500:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if wantsJSON(r) || !acceptsHTML(r) {
		s.json(w, code, errorJSON{Error: msg, Field: field})
		return
	}
	s.render(w, r, code, "error", &errorPage{Status: code, StatusText: http.StatusText(code), Msg: msg,
		SignIn: errors.Is(err, errLoginRequired) && who(r) == nil})
}

// errorJSON is the body of an error for JSON clients.
type errorJSON struct {
	Error string `json:"error"`
	// Field names the field of the request at fault, if one is.
	Field string `json:"field,omitempty"`
}

// handler is a web handler that returns its error instead of answering
// it, as pkgsite's do: the one adapter, s.h, answers it with fail, so
// that statusOf alone decides the status of every error.
type handler func(w http.ResponseWriter, r *http.Request) error

// h adapts fn to http.HandlerFunc. A handler that has written its answer
// returns nil; one that has begun writing (a stream, an archive) deals
// with later errors itself, since the status is gone. An error that is
// the request's own end (the client went away while a password was being
// verified) has no one to answer.
func (s *server) h(fn handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil || (r.Context().Err() != nil && errors.Is(err, r.Context().Err())) {
			return
		}
		if errors.Is(err, domainerr.ErrNotFound) && s.renamed(w, r) {
			return
		}
		s.fail(w, r, err)
	}
}

// renamed answers a read of a project, a jobset or a job under a name
// the project (ProjectRenames) or the jobset (JobsetRenames) has had
// with a 301 to the same place under its name now, and reports whether
// it did. Hydra redirects old jobset names; it has no old project names
// (its rename leaves them a 404), which buildledger keeps so that links
// and clients survive a rename too. A name both renamed goes to the
// project's new name first, and the next request to the jobset's.
func (s *server) renamed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	// /project/P/…, /jobset/P/J/… and /job/P/J/…: the project is the
	// second segment, the jobset the third.
	seg := strings.SplitN(r.URL.Path, "/", 5)
	if len(seg) < 3 || (seg[1] != "project" && seg[1] != "jobset" && seg[1] != "job") {
		return false
	}
	if to, err := s.cfg.Queries.ProjectRenamedTo(r.Context(), seg[2]); err == nil {
		seg[2] = to
	} else if len(seg) < 4 || seg[1] == "project" {
		return false
	} else if seg[3], err = s.cfg.Queries.JobsetRenamedTo(r.Context(), seg[2], seg[3]); err != nil {
		return false
	}
	u := *r.URL
	u.Path, u.RawPath = strings.Join(seg, "/"), ""
	http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
	return true
}

// acceptsHTML reports whether the client takes HTML (browsers, or no
// Accept header at all).
func acceptsHTML(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return a == "" || strings.Contains(a, "text/html") || strings.Contains(a, "*/*")
}

func (s *server) json(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Vary", "Accept")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		s.log.Debug("write json", "err", err)
	}
}

// respond answers v as JSON or renders the template name with data for
// browsers.
func (s *server) respond(w http.ResponseWriter, r *http.Request, v any, name string, data pageData) {
	if wantsJSON(r) {
		s.json(w, http.StatusOK, v)
		return
	}
	s.render(w, r, http.StatusOK, name, data)
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// decodeJSON reads a JSON body into v; malformed JSON is 400.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{Status: http.StatusRequestEntityTooLarge, Msg: "request body too large"}
		}
		return errBadRequest("malformed JSON body: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errBadRequest("malformed JSON body: trailing data")
	}
	return nil
}

// isJSONBody reports whether the request body is JSON.
func isJSONBody(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

// decodeBody reads a request's body into v: JSON when the request says
// so, else a form, which fromForm copies into v once it is parsed.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, fromForm func()) error {
	if isJSONBody(r) {
		return decodeJSON(w, r, v)
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	fromForm()
	return nil
}

// parseForm parses a form body within maxBody.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return errBadRequest("malformed form: %v", err)
	}
	return nil
}

// done answers a successful action: JSON body for JSON clients, with
// the redirect under "redirect" (body nil for that alone), a redirect
// (303) for browsers.
func (s *server) done(w http.ResponseWriter, r *http.Request, code int, to string, body redirector) {
	s.settle(r)
	if code == http.StatusCreated {
		// Hydra's status_created names the new thing by its full URL.
		w.Header().Set("Location", s.absURL(r, to))
	}
	if wantsJSON(r) || isJSONBody(r) {
		if body == nil {
			body = &redirect{}
		}
		body.setRedirect(to)
		s.json(w, code, body)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// absURL is path on this site: under the base URL, or the request's own
// scheme and host.
func (s *server) absURL(r *http.Request, path string) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimSuffix(s.cfg.BaseURL, "/") + path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// redirector is the JSON answer of an action, which carries where a
// browser would be sent.
type redirector interface{ setRedirect(to string) }

// redirect is the "redirect" key of an action's JSON answer. The answers
// embed it where the key sorts among theirs: the keys keep the order
// they had as maps.
type redirect struct {
	Redirect string `json:"redirect"`
}

func (r *redirect) setRedirect(to string) { r.Redirect = to }

// created answers the creation of a project, jobset or user, as Hydra
// does.
type created struct {
	Name string `json:"name"`
	redirect
	// Type is project, jobset or user.
	Type string `json:"type"`
	URI  string `json:"uri"`
}

// settle waits, for a bounded time, until the read models show what the
// request's commands appended.
func (s *server) settle(r *http.Request) {
	if s.cfg.Settle == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.SettleTimeout)
	defer cancel()
	if err := s.cfg.Settle(ctx); err != nil {
		s.log.Warn("read models lag behind the log", "path", r.URL.Path, "err", err)
	}
}
