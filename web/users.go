package web

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"buildledger/commands"
	"buildledger/domain/apitoken"
	"buildledger/domain/domainerr"
	"buildledger/domain/password"
	"buildledger/domain/user"
)

func (s *server) loginPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "login", &loginPage{Next: safeNext(r.URL.Query().Get("next"))})
	return nil
}

// loginPage is the sign-in form (login.html).
type loginPage struct {
	page
	// Next is where to go once signed in.
	Next  string
	Error string
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

func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	tooMany := func() error {
		w.Header().Set("Retry-After", "60")
		return &httpError{Status: http.StatusTooManyRequests, Msg: "too many login attempts, try again in a minute"}
	}
	if !s.limiter.allow("addr:" + s.clientAddr(r)) {
		return tooMany()
	}
	var body struct {
		UserName string `json:"username"`
		Password string `json:"password"`
	}
	next := "/"
	if err := decodeBody(w, r, &body, func() {
		body.UserName, body.Password = r.PostForm.Get("username"), r.PostForm.Get("password")
		next = safeNext(r.PostForm.Get("next"))
	}); err != nil {
		return err
	}
	// Hydra refuses a missing name or password as a bad request, before
	// looking anything up; a browser gets the form again.
	if body.UserName == "" || body.Password == "" {
		msg := "You must specify a user name."
		if body.UserName != "" {
			msg = "You must specify a password."
		}
		if !wantsJSON(r) && !isJSONBody(r) {
			s.render(w, r, http.StatusBadRequest, "login", &loginPage{Next: next, Error: msg})
			return nil
		}
		return errBadRequest("%s", msg)
	}
	// Guesses spread over many addresses still count against the account.
	if !s.limiter.allow("user:" + body.UserName) {
		return tooMany()
	}
	u, err := s.cfg.Queries.User(r.Context(), body.UserName)
	if err != nil && !errors.Is(err, domainerr.ErrNotFound) {
		return err
	}
	ok, rehash, verr := s.verifyPassword(r, body.Password, u.Password, err == nil)
	if verr != nil {
		return verr
	}
	if !ok {
		if !wantsJSON(r) && !isJSONBody(r) {
			s.render(w, r, http.StatusForbidden, "login", &loginPage{Next: next, Error: "Bad username or password."})
			return nil
		}
		return errForbidden("Bad username or password.")
	}
	// The read model may lag behind the account: its stream decides.
	st, err := s.cfg.Accounts.User(r.Context(), u.UserName)
	if err != nil {
		return err
	}
	if !st.MayAuthenticate() {
		return errForbidden("This account is disabled.")
	}
	if rehash {
		s.rehash(r, u.UserName, u.Password, body.Password)
	}
	s.setSession(w, r, u.UserName, st.Generation)
	// Hydra answers 302 to /current-user with the user; a browser's form
	// goes to the page it came from.
	if wantsJSON(r) || isJSONBody(r) {
		w.Header().Set("Location", "/current-user")
		s.json(w, http.StatusFound, u)
		return nil
	}
	http.Redirect(w, r, next, http.StatusFound)
	return nil
}

// verifyPassword checks pw against hash, in any format password.Check
// knows (Hydra's imported hashes too), or against a dummy hash when there
// is no user (known false), so that either takes as long. rehash says the
// hash should be replaced by one made today. At most one verification per
// core runs at once. err is only the request's end.
func (s *server) verifyPassword(r *http.Request, pw, hash string, known bool) (ok, rehash bool, err error) {
	if !known || hash == "" {
		hash, known = s.dummyHash, false
	}
	select {
	case s.verifying <- struct{}{}:
	case <-r.Context().Done():
		return false, false, r.Context().Err()
	}
	ok, rehash, verr := password.Check(pw, hash, password.DefaultParams)
	<-s.verifying
	ok = ok && verr == nil && known && pw != ""
	return ok, ok && rehash, nil
}

// rehash replaces the stored hash of a user who just proved pw by an
// argon2id hash made today, as Hydra does at login. A failure is logged,
// not the login's: the old hash still verifies.
func (s *server) rehash(r *http.Request, userName, old, pw string) {
	hash, err := password.Hash(pw, password.DefaultParams)
	if err == nil {
		_, err = s.cfg.Commands.RehashPassword(r.Context(), commands.RehashPassword{UserName: userName, Old: old, New: hash})
	}
	if err != nil {
		s.log.Warn("password not rehashed", "user", userName, "err", err)
	}
}

// logout answers 204, as Hydra does; a browser's form goes to the front
// page.
func (s *server) logout(w http.ResponseWriter, r *http.Request) error {
	s.clearSession(w, r)
	if wantsJSON(r) || isJSONBody(r) || !acceptsHTML(r) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

func (s *server) currentUser(w http.ResponseWriter, r *http.Request) error {
	p := who(r)
	if p == nil {
		return errLoginRequired
	}
	s.respond(w, r, p.User, "user", &userPage{User: p.User, AllRoles: user.Roles()})
	return nil
}

func (s *server) usersPage(w http.ResponseWriter, r *http.Request) error {
	if err := require(r, (*principal).isAdmin); err != nil {
		return err
	}
	us, err := s.cfg.Queries.Users(r.Context())
	if err != nil {
		return err
	}
	s.respond(w, r, us, "users", &usersPage{Users: us, AllRoles: user.Roles()})
	return nil
}

// usersPage lists the users for admins, with the form that adds one
// (users.html).
type usersPage struct {
	page
	Users    []User
	AllRoles []string
}

// userBody is a user as the JSON API and the forms send it. A field
// left out is nil: an update keeps what the user has.
type userBody struct {
	UserName     string    `json:"username"`
	FullName     *string   `json:"fullname"`
	EmailAddress *string   `json:"emailaddress"`
	Password     string    `json:"password"`
	Roles        *[]string `json:"userroles"`
	// PublicDashboard is Hydra's publicdashboard: true, 1, "1" or "on"
	// show the user's dashboard to everyone.
	PublicDashboard *flexBool `json:"publicdashboard"`
	// CurrentPassword proves a user changing their own password is the
	// account's owner, not someone holding their session.
	CurrentPassword string `json:"currentpassword"`
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
	field := func(name string) *string {
		if !f.Has(name) {
			return nil
		}
		v := f.Get(name)
		return &v
	}
	b = userBody{UserName: strings.TrimSpace(f.Get("username")), FullName: field("fullname"),
		EmailAddress: field("emailaddress"), Password: f.Get("password"), CurrentPassword: f.Get("currentpassword")}
	if f.Has("rolesform") {
		roles := append([]string{}, f["roles"]...)
		b.Roles = &roles
	}
	// An unchecked box sends nothing: the form says it holds the box.
	if f.Has("dashboardform") {
		public := flexBool(truthy(f.Get("publicdashboard")))
		b.PublicDashboard = &public
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
func (s *server) createUser(w http.ResponseWriter, r *http.Request) error {
	if err := require(r, (*principal).isAdmin); err != nil {
		return err
	}
	b, err := s.readUserBody(w, r)
	if err != nil {
		return err
	}
	return s.newUser(w, r, b)
}

// newUser creates the user b describes; the caller checked that the
// signed-in user is an admin.
func (s *server) newUser(w http.ResponseWriter, r *http.Request, b userBody) error {
	hash, err := s.hashPassword(b.Password)
	if err != nil {
		return err
	}
	c := commands.CreateUser{UserName: b.UserName, FullName: deref(b.FullName), EmailAddress: deref(b.EmailAddress), PasswordHash: hash}
	if b.Roles != nil {
		c.Roles = *b.Roles
	}
	if _, err := s.cfg.Commands.CreateUser(r.Context(), s.metadata(r), c); err != nil {
		return err
	}
	uri := "/user/" + b.UserName
	s.done(w, r, http.StatusCreated, uri, &created{Name: b.UserName, Type: "user", URI: uri})
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// selfOrAdmin allows the user named in the URL and admins.
func selfOrAdmin(name string) func(*principal) bool {
	return func(p *principal) bool { return p.isAdmin() || p.User.UserName == name }
}

func (s *server) userPage(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		return err
	}
	u, err := s.cfg.Queries.User(r.Context(), name)
	if err != nil {
		return err
	}
	// Disabling shows at once, even before the read model has it.
	st, err := s.cfg.Accounts.User(r.Context(), name)
	if err != nil {
		return err
	}
	u.Disabled = st.Disabled
	s.respond(w, r, u, "user", &userPage{User: u, AllRoles: user.Roles(), Self: who(r).User.UserName == name})
	return nil
}

// userPage is a user's profile form (user.html).
type userPage struct {
	page
	User     User
	AllRoles []string
	// Self is set when the user looks at their own profile.
	Self bool
	// PasswordMailed says that a new password was just mailed to the
	// user.
	PasswordMailed bool
}

// updateUser changes a profile (self or admin) with PATCH semantics:
// fields the request leaves out are kept. Roles only by admins. Setting a
// password needs a signed-in session, and one's own password also the
// current one; a new password, or new roles, end the user's other
// sessions (the session generation moves), and this session is renewed.
func (s *server) updateUser(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		return err
	}
	b, err := s.readUserBody(w, r)
	if err != nil {
		return err
	}
	if err := s.changeUser(w, r, name, b); err != nil {
		return err
	}
	s.done(w, r, http.StatusOK, "/user/"+name, nil)
	return nil
}

// putUser is Hydra's PUT /user/<u>. On a user that exists it is
// updateUser, answered 204 as Hydra answers it; fields left out are kept
// (Hydra clears them). An admin PUTting a name nobody has creates the
// user (201), as Hydra's PUT /register does; anyone else gets 403 for a
// name not their own.
func (s *server) putUser(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		return err
	}
	b, err := s.readUserBody(w, r)
	if err != nil {
		return err
	}
	if b.UserName != "" && b.UserName != name {
		return errBadRequest("the body names user %q, the URL %q", b.UserName, name)
	}
	// The stream, not the read model, tells whether the name is taken.
	st, err := s.cfg.Accounts.User(r.Context(), name)
	if err != nil {
		return err
	}
	if !st.Exists {
		if !who(r).isAdmin() {
			return errForbidden("only admins create users")
		}
		b.UserName = name
		return s.newUser(w, r, b)
	}
	if err := s.changeUser(w, r, name, b); err != nil {
		return err
	}
	s.settle(r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// changeUser carries out an update of name's profile by the signed-in
// user, whom the caller checked to be name or an admin.
func (s *server) changeUser(w http.ResponseWriter, r *http.Request, name string, b userBody) error {
	var err error
	p := who(r)
	if b.Roles != nil && !p.isAdmin() {
		return errForbidden("only admins change roles")
	}
	self := p.User.UserName == name
	c := commands.UpdateUser{UserName: name, FullName: b.FullName, EmailAddress: b.EmailAddress}
	if b.PublicDashboard != nil {
		public := bool(*b.PublicDashboard)
		c.PublicDashboard = &public
	}
	if b.Password != "" {
		if p.Token != nil {
			return errNeedsSession("setting a password")
		}
		if self {
			if err := s.checkCurrentPassword(w, r, b.CurrentPassword); err != nil {
				return err
			}
		}
		if c.PasswordHash, err = s.hashPassword(b.Password); err != nil {
			return err
		}
	}
	md := s.metadata(r)
	if _, err := s.cfg.Commands.UpdateUser(r.Context(), md, c); err != nil {
		return err
	}
	if b.Roles != nil {
		if _, err := s.cfg.Commands.SetUserRoles(r.Context(), md, commands.SetUserRoles{UserName: name, Roles: *b.Roles}); err != nil {
			return err
		}
	}
	if self && p.Token == nil {
		return s.renewSession(w, r, name)
	}
	return nil
}

// resetPassword gives a user a new random password and mails it to the
// user's address, as Hydra does: the user or an admin asks, in a
// signed-in session. The password reaches only the vault (its hash) and
// the outbox's payload, which the delivery worker deletes once the mail
// is delivered; the log says that the password changed and that a mail
// was queued (with the payload's digest), never the password. The new
// password ends the user's sessions, as any new password does.
func (s *server) resetPassword(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		return err
	}
	p := who(r)
	if p.Token != nil {
		return errNeedsSession("resetting a password")
	}
	if s.cfg.Mail == nil {
		return &httpError{Status: http.StatusNotImplemented, Msg: "a new password is sent by mail, and this server has no mail set up: set a new one on the profile instead"}
	}
	u, err := s.cfg.Queries.User(r.Context(), name)
	if err != nil {
		return err
	}
	if u.Type != user.TypeHydra {
		return errBadRequest("the password of a %s account cannot be reset", u.Type)
	}
	if u.EmailAddress == "" {
		return errBadRequest("no e-mail address is set for this user")
	}
	raw := make([]byte, 12)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	pw := base64.RawURLEncoding.EncodeToString(raw)
	hash, err := s.hashPassword(pw)
	if err != nil {
		return err
	}
	md := s.metadata(r)
	res, err := s.cfg.Commands.UpdateUser(r.Context(), md, commands.UpdateUser{UserName: name, PasswordHash: hash})
	if err != nil {
		return err
	}
	if len(res.Events) == 0 {
		return fmt.Errorf("reset the password of %s: nothing was recorded", name)
	}
	// The link comes from the configured base URL only, never from the
	// request's Host header, which whoever asks for a reset chooses.
	profile := "your profile"
	if s.cfg.BaseURL != "" {
		profile = strings.TrimSuffix(s.cfg.BaseURL, "/") + "/user/" + url.PathEscape(name)
	}
	body := fmt.Sprintf("Hello,\n\nthe password of your account %s was reset. Your new password is:\n\n    %s\n\n"+
		"Please sign in and change it on %s.\n\n-- \nbuildledger, on behalf of this Hydra\n", name, pw, profile)
	if err := s.cfg.Mail.QueueMail(r.Context(), md, res.Events[0].ID, "password_reset", u.EmailAddress, "Hydra password reset", body); err != nil {
		return fmt.Errorf("mail the new password of %s: %w", name, err)
	}
	if p.User.UserName == name {
		if err := s.renewSession(w, r, name); err != nil {
			return err
		}
	}
	s.settle(r)
	if wantsJSON(r) || isJSONBody(r) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.render(w, r, http.StatusOK, "user", &userPage{User: u, AllRoles: user.Roles(), Self: p.User.UserName == name, PasswordMailed: true})
	return nil
}

// userDashboard is Hydra's old address of a dashboard, /user/<u>/dashboard,
// which is the user's or an admin's to follow.
func (s *server) userDashboard(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		return err
	}
	if _, err := s.cfg.Queries.User(r.Context(), name); err != nil {
		return err
	}
	http.Redirect(w, r, "/dashboard/"+url.PathEscape(name), http.StatusFound)
	return nil
}

// checkCurrentPassword verifies the signed-in user's current password,
// within the login limits (a stolen session must not become a way to
// guess it). It returns why the check failed, or nil.
func (s *server) checkCurrentPassword(w http.ResponseWriter, r *http.Request, current string) error {
	name := who(r).User.UserName
	if !s.limiter.allow("user:" + name) {
		w.Header().Set("Retry-After", "60")
		return &httpError{Status: http.StatusTooManyRequests, Msg: "too many password attempts, try again in a minute"}
	}
	if current == "" {
		return errForbidden("changing your password needs your current password (currentpassword)")
	}
	ok, _, err := s.verifyPassword(r, current, who(r).User.Password, true)
	if err != nil {
		return err
	}
	if !ok {
		return errForbidden("the current password is wrong")
	}
	return nil
}

// renewSession gives the request's session the user's current
// generation, after a change of its own that moved it.
func (s *server) renewSession(w http.ResponseWriter, r *http.Request, name string) error {
	st, err := s.cfg.Accounts.User(r.Context(), name)
	if err != nil {
		return err
	}
	if st.MayAuthenticate() {
		s.setSession(w, r, name, st.Generation)
	}
	return nil
}

// userDisabled answers the disabling or enabling of an account.
type userDisabled struct {
	Disabled bool `json:"disabled"`
	redirect
	UserName string `json:"username"`
}

// setDisabled disables or enables an account (admins only). A disabled
// user cannot sign in, and their sessions and tokens count for nothing
// from the moment the event is recorded. An admin cannot disable
// themselves.
func (s *server) setDisabled(disable bool) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		name := chi.URLParam(r, "user")
		if err := require(r, (*principal).isAdmin); err != nil {
			return err
		}
		run := s.cfg.Commands.EnableUser
		if disable {
			if who(r).User.UserName == name {
				return domainerr.Invalid("user", "an admin cannot disable themselves")
			}
			run = s.cfg.Commands.DisableUser
		}
		if _, err := run(r.Context(), s.metadata(r), name); err != nil {
			return err
		}
		s.done(w, r, http.StatusOK, "/user/"+name, &userDisabled{Disabled: disable, UserName: name})
		return nil
	}
}

// revokeSessions ends every session of a user, the caller's own included
// when it is theirs ("log out everywhere"; self or admin). API tokens are
// not sessions: revoke them on the tokens page.
func (s *server) revokeSessions(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		return err
	}
	if _, err := s.cfg.Commands.RevokeUserSessions(r.Context(), s.metadata(r), name); err != nil {
		return err
	}
	if who(r).User.UserName == name && who(r).Token == nil {
		s.clearSession(w, r)
		s.done(w, r, http.StatusOK, "/", nil)
		return nil
	}
	s.done(w, r, http.StatusOK, "/user/"+name, nil)
	return nil
}

// forgetUser erases a user's personal data (admins only): their profile
// keys and credential are destroyed, and every view shows a forgotten
// user from then on. An admin cannot forget themselves, which would also
// lock them out mid-request.
func (s *server) forgetUser(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if err := require(r, (*principal).isAdmin); err != nil {
		return err
	}
	if who(r).User.UserName == name {
		return domainerr.Invalid("user", "an admin cannot forget themselves")
	}
	if _, err := s.cfg.Commands.ForgetUser(r.Context(), s.metadata(r), commands.ForgetUser{UserName: name}); err != nil {
		return err
	}
	s.done(w, r, http.StatusOK, "/admin/users", nil)
	return nil
}

func (s *server) tokensPage(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		return err
	}
	ts, err := s.cfg.Queries.APITokens(r.Context(), name)
	if err != nil {
		return err
	}
	s.respond(w, r, ts, "tokens", &tokensPage{UserName: name, Tokens: ts, Enabled: s.cfg.Tokens != nil})
	return nil
}

// tokensPage lists a user's API tokens, with the form that makes one
// (tokens.html).
type tokensPage struct {
	page
	UserName string
	Tokens   []APIToken
	// Enabled is false when the server has no token commands.
	Enabled bool
	// New is the token just made, whose secret is shown once.
	New *newToken
}

// newToken is a token just made, with its secret: the answer of POST
// /user/<u>/tokens.
type newToken struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Scope string `json:"scope"`
	Token string `json:"token"`
}

// createToken makes a new API token; its secret is shown once. Users
// mint tokens for themselves, and admins for anyone: such a token records
// the admin in the actor of everything done with it
// (token:bob/ci(by admin)). Only a signed-in session mints: a token, of
// any scope, cannot make more tokens.
func (s *server) createToken(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		return err
	}
	if who(r).Token != nil {
		return errNeedsSession("minting a token")
	}
	if s.cfg.Tokens == nil {
		return &httpError{Status: http.StatusNotImplemented, Msg: "API tokens are not available"}
	}
	var body struct {
		Name  string `json:"name"`
		Scope string `json:"scope"`
	}
	if err := decodeBody(w, r, &body, func() {
		body.Name, body.Scope = r.PostForm.Get("name"), r.PostForm.Get("scope")
	}); err != nil {
		return err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	secret := "blt_" + base64.RawURLEncoding.EncodeToString(raw)
	scope, err := apitoken.ParseScope(body.Scope)
	if err != nil {
		return err
	}
	id, err := s.cfg.Tokens.CreateAPIToken(r.Context(), s.metadata(r), apitoken.Create{User: name, Name: body.Name,
		Scope: scope, MintedBy: who(r).User.UserName, TokenHash: hashToken(secret)})
	if err != nil {
		return err
	}
	out := &newToken{ID: id, Name: strings.TrimSpace(body.Name), Scope: scope, Token: secret}
	if wantsJSON(r) || isJSONBody(r) {
		s.json(w, http.StatusCreated, out)
		return nil
	}
	ts, _ := s.cfg.Queries.APITokens(r.Context(), name)
	s.render(w, r, http.StatusCreated, "tokens", &tokensPage{UserName: name, Tokens: ts, Enabled: true, New: out})
	return nil
}

func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	name := chi.URLParam(r, "user")
	if err := require(r, selfOrAdmin(name)); err != nil {
		return err
	}
	if s.cfg.Tokens == nil {
		return &httpError{Status: http.StatusNotImplemented, Msg: "API tokens are not available"}
	}
	if err := s.cfg.Tokens.RevokeAPIToken(r.Context(), s.metadata(r), name, chi.URLParam(r, "token")); err != nil {
		return err
	}
	s.done(w, r, http.StatusOK, "/user/"+name+"/tokens", nil)
	return nil
}
