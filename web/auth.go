package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"buildledger/commands"
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
	// Token is the API token used, if any.
	Token *APIToken
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
		actor = commands.TokenActor(p.User.UserName + "/" + p.Token.Name)
	}
	id := events.NewID(s.now())
	return events.Metadata{Actor: actor, CorrelationID: id, CausationID: id}
}

type session struct {
	User    string `json:"u"`
	Expires int64  `json:"e"`
}

func (s *server) sign(payload []byte) []byte {
	m := hmac.New(sha256.New, s.cfg.SessionKey)
	m.Write([]byte("session\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// setSession writes a signed session cookie for name.
func (s *server) setSession(w http.ResponseWriter, r *http.Request, name string) {
	payload, _ := json.Marshal(session{User: name, Expires: s.now().Add(sessionTTL).Unix()})
	val := base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.sign(payload))
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: val, Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL.Seconds())})
}

func (s *server) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// sessionUser returns the user name of a valid session cookie, or "".
func (s *server) sessionUser(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	b64, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return ""
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(b64)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.sign(payload)) {
		return ""
	}
	var sess session
	if json.Unmarshal(payload, &sess) != nil || sess.Expires < s.now().Unix() {
		return ""
	}
	return sess.User
}

// hashToken returns the stored hash of an API token secret.
func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// authenticate finds the request's user from a bearer token or the
// session cookie. A bad bearer token is refused with 401. A forgotten
// user's session and tokens count for nothing.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, secret, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") || secret == "" {
				s.fail(w, r, &httpError{Status: http.StatusUnauthorized, Msg: "unsupported authorization scheme"})
				return
			}
			tok, err := s.cfg.Queries.APITokenByHash(ctx, hashToken(strings.TrimSpace(secret)))
			if err != nil {
				s.fail(w, r, &httpError{Status: http.StatusUnauthorized, Msg: "invalid API token"})
				return
			}
			u, err := s.cfg.Queries.User(ctx, tok.UserName)
			if err != nil || u.Forgotten {
				s.fail(w, r, &httpError{Status: http.StatusUnauthorized, Msg: "invalid API token"})
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, &principal{User: u, Token: &tok})))
			return
		}
		if name := s.sessionUser(r); name != "" {
			u, err := s.cfg.Queries.User(ctx, name)
			switch {
			case err == nil && !u.Forgotten:
				r = r.WithContext(context.WithValue(ctx, ctxKey{}, &principal{User: u}))
			case err != nil && !errors.Is(err, domainerr.ErrNotFound):
				s.fail(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
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

// require checks a permission: 401 without a user, 403 without the right.
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
