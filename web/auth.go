package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"buildledger/commands"
	"buildledger/domain/apitoken"
	"buildledger/domain/domainerr"
	"buildledger/domain/user"
	"buildledger/events"
)

const (
	sessionCookie = "buildledger_session"
	sessionTTL    = 7 * 24 * time.Hour
)

// principal is who made a request.
type principal struct {
	User User
	// Token is the API token used, if any, as its stream tells it.
	Token *apitoken.State
}

type ctxKey struct{}

func who(r *http.Request) *principal {
	p, _ := r.Context().Value(ctxKey{}).(*principal)
	return p
}

// actor returns the metadata for a command made by the request's user.
func (s *server) metadata(r *http.Request) events.Metadata {
	p := who(r)
	actor := commands.UserActor(p.User.UserName)
	if p.Token != nil {
		actor = commands.TokenActor(p.User.UserName, p.Token.Name, p.Token.MintedBy)
	}
	id := events.NewID(s.now())
	return events.Metadata{Actor: actor, CorrelationID: id, CausationID: id}
}

// session is the signed payload of the session cookie. Generation is the
// user's session generation (user.State.Generation) at sign-in: a cookie
// of an older generation is refused, which is how a new password, new
// roles, disabling and "log out everywhere" end sessions already issued.
// Cookies from before generations existed read as 0, which no user has.
type session struct {
	User       string `json:"u"`
	Generation uint64 `json:"g"`
	Expires    int64  `json:"e"`
}

func (s *server) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write([]byte("session\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// setSession writes a signed session cookie for name at generation gen.
func (s *server) setSession(w http.ResponseWriter, r *http.Request, name string, gen uint64) {
	payload, _ := json.Marshal(session{User: name, Generation: gen, Expires: s.now().Add(sessionTTL).Unix()})
	val := base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.sign(payload))
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: val, Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL.Seconds())})
}

func (s *server) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// readSession returns the session of a validly signed, unexpired
// cookie; ok is false without one.
func (s *server) readSession(r *http.Request) (sess session, ok bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return sess, false
	}
	b64, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return sess, false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(b64)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.sign(payload)) {
		return sess, false
	}
	if json.Unmarshal(payload, &sess) != nil || sess.Expires < s.now().Unix() || sess.User == "" {
		return sess, false
	}
	return sess, true
}

// hashToken returns the stored hash of an API token secret.
func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// authenticate finds the request's user from a bearer token or the
// session cookie. A bad bearer token is refused with 401; a session that
// no longer holds counts for nothing. Whether a token is revoked, and
// whether a user is disabled, forgotten or at another session generation,
// is read from their own streams (Accounts), never from a read model: it
// holds from the moment the event is appended, even with every projector
// stopped. The user's roles come from there too.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if h := r.Header.Get("Authorization"); h != "" {
			p, err := s.tokenPrincipal(r, h)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, p)))
			return
		}
		if sess, ok := s.readSession(r); ok {
			st, err := s.cfg.Accounts.User(ctx, sess.User)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if st.MayAuthenticate() && st.Generation == sess.Generation {
				u, err := s.accountUser(r, st)
				switch {
				case err == nil:
					r = r.WithContext(context.WithValue(ctx, ctxKey{}, &principal{User: u}))
				case !errors.Is(err, domainerr.ErrNotFound):
					s.fail(w, r, err)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// tokenPrincipal authenticates an Authorization header. The read model
// only maps the secret's hash to a token id; the token's stream says
// whether it still holds, and its user's whether they may act.
func (s *server) tokenPrincipal(r *http.Request, header string) (*principal, error) {
	ctx := r.Context()
	invalid := &httpError{Status: http.StatusUnauthorized, Msg: "invalid API token"}
	scheme, secret, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, &httpError{Status: http.StatusUnauthorized, Msg: "unsupported authorization scheme"}
	}
	hash := hashToken(strings.TrimSpace(secret))
	row, err := s.cfg.Queries.APITokenByHash(ctx, hash)
	if errors.Is(err, domainerr.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	tok, err := s.cfg.Accounts.Token(ctx, row.ID)
	if err != nil {
		return nil, err
	}
	if !tok.Exists || tok.Revoked || tok.TokenHash != hash {
		return nil, invalid
	}
	st, err := s.cfg.Accounts.User(ctx, tok.User)
	if err != nil {
		return nil, err
	}
	if !st.MayAuthenticate() {
		return nil, invalid
	}
	u, err := s.accountUser(r, st)
	if errors.Is(err, domainerr.ErrNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Accounts.TokenUsed(ctx, tok.ID); err != nil {
		s.log.WarnContext(ctx, "recording api token use", "token", tok.ID, "err", err)
	}
	return &principal{User: u, Token: &tok}, nil
}

// accountUser returns the profile of a user who may authenticate, with
// the roles of their stream. A forgotten user is not found.
func (s *server) accountUser(r *http.Request, st user.State) (User, error) {
	u, err := s.cfg.Queries.User(r.Context(), st.UserName)
	if err != nil {
		return User{}, err
	}
	if u.Forgotten {
		return User{}, domainerr.NotFound("user", st.UserName)
	}
	u.Roles = slices.Clone(st.Roles)
	if u.Roles == nil {
		u.Roles = []string{}
	}
	return u, nil
}

// tokenScope refuses what a token's scope does not allow (403), and, for
// any scope, minting tokens and setting passwords, which need a session
// (updateUser and createToken check that). Requests without a token pass.
func (s *server) tokenScope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := who(r)
		if p == nil || p.Token == nil {
			next.ServeHTTP(w, r)
			return
		}
		if need := neededScope(r); !apitoken.Allows(p.Token.Scope, need) {
			s.fail(w, r, errForbidden(fmt.Sprintf("this API token has scope %q; this request needs %q", p.Token.Scope, need)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// evalRoutes are the requests a token of scope eval may make beyond
// reading: evaluations, pushes and build actions, what CI needs. They are
// matched on the path the router matches (its escaped form when it has
// one), so an encoded slash cannot make another route look like one.
var evalRoutes = []string{
	"/jobset/*/*/evaluate",
	"/api/push",
	"/build/*/restart", "/build/*/cancel", "/build/*/bump", "/build/*/keep", "/build/*/keep/*",
	"/eval/*/restart-failed", "/eval/*/restart-aborted", "/eval/*/cancel", "/eval/*/bump",
}

// neededScope returns the scope a request needs: read for safe methods,
// submit for POST /api/build, eval for evalRoutes, admin for everything
// else.
func neededScope(r *http.Request) string {
	if safeMethod(r.Method) {
		return apitoken.ScopeRead
	}
	p := r.URL.Path
	if r.URL.RawPath != "" {
		p = r.URL.RawPath
	}
	if r.Method == http.MethodPost && p == "/api/build" {
		return apitoken.ScopeSubmit
	}
	if r.Method == http.MethodPost {
		for _, pat := range evalRoutes {
			if ok, _ := path.Match(pat, p); ok {
				return apitoken.ScopeEval
			}
		}
	}
	return apitoken.ScopeAdmin
}

// errNeedsSession refuses to a token what only a signed-in user may do.
func errNeedsSession(what string) error {
	return errForbidden(what + " needs a signed-in session, not an API token")
}

// safeMethod reports whether m cannot change state.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin refuses state-changing requests whose Origin (or, without
// one, Referer) is not this site, as Hydra does for POSTs. Requests that
// carry the session cookie must name their origin, and so must a login:
// without it, a cross-site form (or one with Origin "null") could sign a
// victim in to the attacker's account. The webhooks, which authenticate
// by signature, and bearer-token requests are exempt.
func (s *server) sameOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if safeMethod(r.Method) || r.URL.Path == "/api/push-github" || r.URL.Path == "/api/push-gitea" {
			next.ServeHTTP(w, r)
			return
		}
		if p := who(r); p != nil && p.Token != nil {
			next.ServeHTTP(w, r)
			return
		}
		src := r.Header.Get("Origin")
		if src == "" || src == "null" {
			src = r.Header.Get("Referer")
		}
		_, cookieErr := r.Cookie(sessionCookie)
		if src == "" {
			if cookieErr == nil || r.URL.Path == "/login" {
				s.fail(w, r, errForbidden("cross-site request refused: no Origin or Referer header"))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if !s.sameSite(r, src) {
			s.fail(w, r, errForbidden("cross-site request refused: origin "+src+" is not this site"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) sameSite(r *http.Request, src string) bool {
	u, err := url.Parse(src)
	if err != nil || u.Host == "" {
		return false
	}
	if s.cfg.BaseURL != "" {
		base, err := url.Parse(s.cfg.BaseURL)
		return err == nil && strings.EqualFold(base.Scheme, u.Scheme) && strings.EqualFold(base.Host, u.Host)
	}
	scheme := "http"
	if r.TLS != nil || s.cfg.SecureCookies {
		scheme = "https"
	}
	return strings.EqualFold(u.Host, r.Host) && (u.Scheme == scheme || u.Scheme == "https")
}

// private requires a user everywhere but the login page, static files
// and webhooks when the server is private.
func (s *server) private(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.Private || who(r) != nil {
			next.ServeHTTP(w, r)
			return
		}
		switch p := r.URL.Path; {
		case p == "/login", strings.HasPrefix(p, "/static/"), p == "/api/push-github", p == "/api/push-gitea":
			next.ServeHTTP(w, r)
		case !wantsJSON(r) && safeMethod(r.Method):
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		default:
			s.fail(w, r, errLoginRequired)
		}
	})
}

// The permission rules of Hydra (CatalystUtils).

func (p *principal) hasRole(role string) bool {
	if p == nil {
		return false
	}
	return slices.Contains(p.User.Roles, user.RoleAdmin) || slices.Contains(p.User.Roles, role)
}

func (p *principal) isAdmin() bool { return p.hasRole(user.RoleAdmin) }

// isOwner: admin, the project's owner or one of its members.
func (p *principal) isOwner(pr Project) bool {
	if p == nil {
		return false
	}
	return p.isAdmin() || pr.Owner == p.User.UserName || slices.Contains(pr.Members, p.User.UserName)
}

// mayChangeMembers: the project's owner or an admin. A member may edit
// the project but not choose who else may, or lock its owner out.
func (p *principal) mayChangeMembers(pr Project) bool {
	return p != nil && (p.isAdmin() || pr.Owner == p.User.UserName)
}

// require checks a permission: 403 without a user or without the right,
// as in Hydra.
func require(r *http.Request, ok func(*principal) bool) error {
	p := who(r)
	if p == nil {
		return errLoginRequired
	}
	if !ok(p) {
		return errForbidden("you do not have permission to do this")
	}
	return nil
}

// roleOrOwner allows admins, users with role and the project's owners.
func roleOrOwner(role string, pr Project) func(*principal) bool {
	return func(p *principal) bool { return p.hasRole(role) || p.isOwner(pr) }
}
