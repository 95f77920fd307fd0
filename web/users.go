package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/password"
	"buildledger/domain/user"
)

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "login", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

// safeNext keeps only local paths as redirect targets.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	tooMany := func() {
		w.Header().Set("Retry-After", "60")
		s.fail(w, r, &httpError{Status: http.StatusTooManyRequests, Msg: "too many login attempts, try again in a minute"})
	}
	if !s.limiter.allow("addr:" + s.clientAddr(r)) {
		tooMany()
		return
	}
	var body struct {
		UserName string `json:"username"`
		Password string `json:"password"`
	}
	next := "/"
	if isJSONBody(r) {
		if err := decodeJSON(w, r, &body); err != nil {
			s.fail(w, r, err)
			return
		}
	} else {
		if err := parseForm(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		body.UserName, body.Password = r.PostForm.Get("username"), r.PostForm.Get("password")
		next = safeNext(r.PostForm.Get("next"))
	}
	// Guesses spread over many addresses still count against the account.
	if !s.limiter.allow("user:" + body.UserName) {
		tooMany()
		return
	}
	u, err := s.cfg.Queries.User(r.Context(), body.UserName)
	if err != nil && !errors.Is(err, domainerr.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	hash := u.Password
	if err != nil || hash == "" {
		hash = s.dummyHash
	}
	select {
	case s.verifying <- struct{}{}:
	case <-r.Context().Done():
		return
	}
	ok, verr := password.Verify(body.Password, hash)
	<-s.verifying
	if err != nil || verr != nil || !ok || body.Password == "" {
		if !wantsJSON(r) && !isJSONBody(r) {
			s.render(w, r, http.StatusForbidden, "login", map[string]any{"Next": next, "Error": "Bad username or password."})
			return
		}
		s.fail(w, r, errForbidden("Bad username or password."))
		return
	}
	s.setSession(w, r, u.UserName)
	if wantsJSON(r) || isJSONBody(r) {
		s.json(w, http.StatusOK, u)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	s.clearSession(w, r)
	s.done(w, r, http.StatusOK, "/", nil)
}

func (s *server) currentUser(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	if p == nil {
		s.fail(w, r, errLoginRequired)
		return
	}
	s.respond(w, r, p.User, "user", map[string]any{"User": p.User, "AllRoles": user.Roles()})
}

func (s *server) usersPage(w http.ResponseWriter, r *http.Request) {
	if err := require(r, (*principal).isAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	us, err := s.cfg.Queries.Users(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, r, us, "users", map[string]any{"Users": us, "AllRoles": user.Roles()})
}

// userBody is a user as the JSON API and the forms send it.
type userBody struct {
	UserName     string    `json:"username"`
	FullName     string    `json:"fullname"`
	EmailAddress string    `json:"emailaddress"`
	Password     string    `json:"password"`
	Roles        *[]string `json:"userroles"`
}

func (s *server) readUserBody(w http.ResponseWriter, r *http.Request) (userBody, error) {
	var b userBody
	if isJSONBody(r) {
		return b, decodeJSON(w, r, &b)
	}
	if err := parseForm(w, r); err != nil {
		return b, err
	}
	f := r.PostForm
	b = userBody{UserName: strings.TrimSpace(f.Get("username")), FullName: f.Get("fullname"),
		EmailAddress: f.Get("emailaddress"), Password: f.Get("password")}
	if f.Has("rolesform") {
		roles := append([]string{}, f["roles"]...)
		b.Roles = &roles
	}
	return b, nil
}

func (s *server) hashPassword(pw string) (string, error) {
	if len(pw) < 8 {
		return "", domainerr.Invalid("password", "must have at least 8 characters")
	}
	return password.Hash(pw, password.DefaultParams)
}

// createUser is admin-only, as Hydra's /register.
func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	if err := require(r, (*principal).isAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.readUserBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hash, err := s.hashPassword(b.Password)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := commands.CreateUser{UserName: b.UserName, FullName: b.FullName, EmailAddress: b.EmailAddress, PasswordHash: hash}
	if b.Roles != nil {
		c.Roles = *b.Roles
	}
	if _, err := s.cfg.Commands.CreateUser(r.Context(), s.metadata(r), c); err != nil {
		s.fail(w, r, err)
		return
	}
	s.done(w, r, http.StatusCreated, "/user/"+b.UserName, map[string]any{"uri": "/user/" + b.UserName, "name": b.UserName, "type": "user"})
}

// selfOrAdmin allows the user named in the URL and admins.
func selfOrAdmin(name string) func(*principal) bool {
	return func(p *principal) bool { return p.isAdmin() || p.User.UserName == name }
}

func (s *server) userPage(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.cfg.Queries.User(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, r, u, "user", map[string]any{"User": u, "AllRoles": user.Roles()})
}

// updateUser changes a profile (self or admin); roles only by admins.
func (s *server) updateUser(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		s.fail(w, r, err)
		return
	}
	u, err := s.cfg.Queries.User(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.readUserBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if b.Roles != nil && !who(r).isAdmin() {
		s.fail(w, r, errForbidden("only admins change roles"))
		return
	}
	c := commands.UpdateUser{UserName: name, FullName: b.FullName, EmailAddress: b.EmailAddress}
	if c.EmailAddress == "" {
		c.EmailAddress = u.EmailAddress
	}
	if b.Password != "" {
		if c.PasswordHash, err = s.hashPassword(b.Password); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	md := s.metadata(r)
	if _, err := s.cfg.Commands.UpdateUser(r.Context(), md, c); err != nil {
		s.fail(w, r, err)
		return
	}
	if b.Roles != nil && !slices.Equal(*b.Roles, u.Roles) {
		if _, err := s.cfg.Commands.SetUserRoles(r.Context(), md, commands.SetUserRoles{UserName: name, Roles: *b.Roles}); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.done(w, r, http.StatusOK, "/user/"+name, nil)
}

// forgetUser erases a user's personal data (admins only): their profile
// keys and credential are destroyed, and every view shows a forgotten
// user from then on. An admin cannot forget themselves, which would also
// lock them out mid-request.
func (s *server) forgetUser(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "user")
	if err := require(r, (*principal).isAdmin); err != nil {
		s.fail(w, r, err)
		return
	}
	if who(r).User.UserName == name {
		s.fail(w, r, domainerr.Invalid("user", "an admin cannot forget themselves"))
		return
	}
	if _, err := s.cfg.Commands.ForgetUser(r.Context(), s.metadata(r), commands.ForgetUser{UserName: name}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.done(w, r, http.StatusOK, "/admin/users", nil)
}

func (s *server) tokensPage(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		s.fail(w, r, err)
		return
	}
	ts, err := s.cfg.Queries.APITokens(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.respond(w, r, ts, "tokens", map[string]any{"UserName": name, "Tokens": ts, "Enabled": s.cfg.Tokens != nil})
}

// createToken makes a new API token; its secret is shown once. Users
// mint tokens only for themselves, admins included: a token acts as its
// owner, so one an admin minted for bob would record bob as the actor of
// what the admin does with it.
func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "user")
	if err := require(r, func(p *principal) bool { return p.User.UserName == name }); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.cfg.Tokens == nil {
		s.fail(w, r, &httpError{Status: http.StatusNotImplemented, Msg: "API tokens are not available"})
		return
	}
	var body struct {
		Name string `json:"name"`
	}
	if isJSONBody(r) {
		if err := decodeJSON(w, r, &body); err != nil {
			s.fail(w, r, err)
			return
		}
	} else {
		if err := parseForm(w, r); err != nil {
			s.fail(w, r, err)
			return
		}
		body.Name = r.PostForm.Get("name")
	}
	body.Name = strings.TrimSpace(body.Name)
	if body.Name == "" || len(body.Name) > 100 {
		s.fail(w, r, domainerr.Invalid("name", "a token needs a name of 1 to 100 characters"))
		return
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		s.fail(w, r, err)
		return
	}
	secret := "blt_" + base64.RawURLEncoding.EncodeToString(raw)
	id, err := s.cfg.Tokens.CreateAPIToken(r.Context(), s.metadata(r), name, body.Name, hashToken(secret))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := map[string]any{"id": id, "name": body.Name, "token": secret}
	if wantsJSON(r) || isJSONBody(r) {
		s.json(w, http.StatusCreated, out)
		return
	}
	ts, _ := s.cfg.Queries.APITokens(r.Context(), name)
	s.render(w, r, http.StatusCreated, "tokens", map[string]any{"UserName": name, "Tokens": ts, "Enabled": true, "New": out})
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.cfg.Tokens == nil {
		s.fail(w, r, &httpError{Status: http.StatusNotImplemented, Msg: "API tokens are not available"})
		return
	}
	if err := s.cfg.Tokens.RevokeAPIToken(r.Context(), s.metadata(r), name, chi.URLParam(r, "token")); err != nil {
		s.fail(w, r, err)
		return
	}
	s.done(w, r, http.StatusOK, "/user/"+name+"/tokens", nil)
}
