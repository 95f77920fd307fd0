package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// mint makes a token of user, signed in as by, and returns a client
// using it.
func (e *env) mint(by *client, user, name, scope string) *client {
	e.t.Helper()
	body := map[string]any{"name": name}
	if scope != "" {
		body["scope"] = scope
	}
	res := by.do("POST", "/user/"+user+"/tokens", body)
	require.Equal(e.t, http.StatusCreated, res.code, res.body)
	var tok struct{ Token string }
	res.json(e.t, &tok)
	bot := e.anon()
	bot.token = tok.Token
	return bot
}

// signedIn reports whether c's session or token still names user.
func signedIn(t *testing.T, c *client, user string) bool {
	t.Helper()
	res := c.do("GET", "/current-user", nil)
	if res.code == http.StatusUnauthorized || res.code == http.StatusForbidden {
		return false
	}
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Contains(t, res.body, `"username":"`+user+`"`)
	return true
}

// TestSessionsEnd: a new password, new roles, disabling and "log out
// everywhere" end every session already issued (M2: bob's cookie
// answered /current-user after an admin reset his password); changes
// that do not touch access leave sessions alone; a user signs in again
// afterwards, unless disabled.
func TestSessionsEnd(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	tests := []struct {
		name string
		// act is done by admin (or the user) to member's account.
		act     func(member *client) response
		ends    bool
		relogin bool
	}{
		{"profile change", func(*client) response {
			return admin.do("POST", "/user/member", map[string]any{"fullname": "Member M"})
		}, false, true},
		{"admin resets the password", func(*client) response {
			return admin.do("POST", "/user/member", map[string]any{"password": testPassword})
		}, true, true},
		{"admin changes the roles", func(*client) response {
			return admin.do("POST", "/user/member", map[string]any{"userroles": []string{"eval-jobset"}})
		}, true, true},
		{"admin logs the user out everywhere", func(*client) response {
			return admin.do("POST", "/user/member/sessions/revoke", nil)
		}, true, true},
		{"the user logs out everywhere", func(m *client) response {
			return m.do("POST", "/user/member/sessions/revoke", nil)
		}, true, true},
		{"admin disables the account", func(*client) response {
			return admin.do("POST", "/user/member/disable", nil)
		}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stolen := e.as("member")
			other := e.as("member")
			require.True(t, signedIn(t, stolen, "member"))
			res := tt.act(other)
			require.Equal(t, http.StatusOK, res.code, res.body)
			require.Equal(t, !tt.ends, signedIn(t, stolen, "member"), "the earlier session")
			login := e.anon().do("POST", "/login", map[string]string{"username": "member", "password": testPassword})
			if tt.relogin {
				require.Equal(t, http.StatusFound, login.code, login.body)
			} else {
				require.Equal(t, http.StatusForbidden, login.code, login.body)
				require.Contains(t, login.body, "disabled")
			}
		})
	}
}

// TestOwnPasswordNeedsTheCurrentOne: someone holding a user's session
// cannot take the account over by setting a password; the user can, with
// the current one, and stays signed in here while their other sessions
// end. An admin resets another user's password without knowing it.
func TestOwnPasswordNeedsTheCurrentOne(t *testing.T) {
	e := newEnv(t, envOpts{})
	owner, elsewhere := e.as("owner"), e.as("owner")
	tests := []struct {
		name string
		body map[string]any
		code int
	}{
		{"no current password", map[string]any{"password": "new-password"}, http.StatusForbidden},
		{"wrong current password", map[string]any{"password": "new-password", "currentpassword": "guess1234"}, http.StatusForbidden},
		{"too short", map[string]any{"password": "short", "currentpassword": testPassword}, http.StatusUnprocessableEntity},
		{"current password", map[string]any{"password": "new-password", "currentpassword": testPassword}, http.StatusOK},
	}
	for _, tt := range tests {
		res := owner.do("POST", "/user/owner", tt.body)
		require.Equal(t, tt.code, res.code, "%s: %s", tt.name, res.body)
	}
	require.True(t, signedIn(t, owner, "owner"), "the session that changed it is renewed")
	require.False(t, signedIn(t, elsewhere, "owner"), "other sessions end")
	login := func(pw string) int {
		return e.anon().do("POST", "/login", map[string]string{"username": "owner", "password": pw}).code
	}
	require.Equal(t, http.StatusForbidden, login(testPassword))
	require.Equal(t, http.StatusFound, login("new-password"))

	// The HTML form asks for it too.
	form := url.Values{"fullname": {"OWNER"}, "emailaddress": {"owner@example.org"}, "password": {"third-password"}}
	res := owner.do("POST", "/user/owner", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
	require.Equal(t, http.StatusForbidden, res.code)

	admin := e.as("admin")
	res = admin.do("POST", "/user/owner", map[string]any{"password": "reset-by-admin"})
	require.Equal(t, http.StatusOK, res.code, "an admin resets another user's password: %s", res.body)
	require.Equal(t, http.StatusFound, login("reset-by-admin"))
	res = admin.do("POST", "/user/admin", map[string]any{"password": "admin-password"})
	require.Equal(t, http.StatusForbidden, res.code, "an admin's own password needs the current one too")
}

// TestDisableUser: admins disable and enable accounts; a disabled user
// cannot sign in and their sessions and tokens are refused at once; the
// UI and JSON show it.
func TestDisableUser(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin, member := e.as("admin"), e.as("member")
	bot := e.mint(member, "member", "ci", "")
	require.Equal(t, http.StatusForbidden, member.do("POST", "/user/owner/disable", nil).code, "members do not disable")
	require.Equal(t, http.StatusUnprocessableEntity, admin.do("POST", "/user/admin/disable", nil).code, "nor admins themselves")
	require.Equal(t, http.StatusNotFound, admin.do("POST", "/user/ghost/disable", nil).code)

	require.Equal(t, http.StatusOK, admin.do("POST", "/user/member/disable", nil).code)
	require.Equal(t, http.StatusOK, admin.do("POST", "/user/member/disable", nil).code, "twice changes nothing")
	require.False(t, signedIn(t, member, "member"))
	require.Equal(t, http.StatusUnauthorized, bot.do("GET", "/current-user", nil).code)
	require.Contains(t, admin.do("GET", "/user/member", nil).body, `"disabled":true`)
	require.Contains(t, admin.do("GET", "/admin/users", nil).body, `"disabled":true`)
	require.Contains(t, admin.do("GET", "/user/member", nil, "Accept", "text/html").body, "disabled")

	require.Equal(t, http.StatusOK, admin.do("POST", "/user/member/enable", nil).code)
	require.NotContains(t, admin.do("GET", "/user/member", nil).body, `"disabled"`)
	require.True(t, signedIn(t, e.as("member"), "member"), "signs in again")
	require.True(t, signedIn(t, bot, "member"), "tokens not revoked work again")
	require.False(t, signedIn(t, member, "member"), "sessions the disabling ended stay ended")
}

// TestTokenScopes: a token does what its scope allows and nothing more;
// whatever its scope, it neither mints tokens nor sets passwords (M3:
// with bob's token a second token was minted and a new password set).
func TestTokenScopes(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	bots := map[string]*client{
		"read":    e.mint(admin, "admin", "reader", "read"),
		"eval":    e.mint(admin, "admin", "ci", ""),
		"admin":   e.mint(admin, "admin", "ops", "admin"),
		"pre-set": e.mint(admin, "admin", "ci2", "eval"),
	}
	require.Contains(t, admin.do("GET", "/user/admin/tokens", nil).body, `"scope":"eval"`)
	require.Equal(t, http.StatusUnprocessableEntity, admin.do("POST", "/user/admin/tokens", map[string]any{"name": "x", "scope": "root"}).code)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		// allowed lists the scopes that may.
		allowed []string
	}{
		{"read a page", "GET", "/current-user", nil, []string{"read", "eval", "admin"}},
		{"evaluate", "POST", "/jobset/p/j/evaluate", nil, []string{"eval", "admin"}},
		{"push", "POST", "/api/push?jobsets=p:j", nil, []string{"eval", "admin"}},
		{"keep a build", "POST", "/build/1/keep/1", nil, []string{"eval", "admin"}},
		{"restart an eval's failed builds", "POST", "/eval/2/restart-failed", nil, []string{"eval", "admin"}},
		{"create a project", "PUT", "/project/bot", map[string]any{"displayname": "Bot", "enabled": true}, []string{"admin"}},
		{"update a jobset", "POST", "/jobset/p/j", jobsetBody(), []string{"admin"}},
		// An encoded slash makes the update route look like evaluate to
		// anyone matching on the decoded path.
		{"update a jobset disguised", "POST", "/jobset/p/j%2Fevaluate", jobsetBody(), nil},
		{"revoke sessions", "POST", "/user/nobody/sessions/revoke", nil, []string{"admin"}},
		{"mint a token", "POST", "/user/admin/tokens", map[string]any{"name": "more"}, nil},
		{"mint a token for another", "POST", "/user/nobody/tokens", map[string]any{"name": "more"}, nil},
		{"set own password", "POST", "/user/admin", map[string]any{"password": "taken-over", "currentpassword": testPassword}, nil},
		{"reset another's password", "POST", "/user/nobody", map[string]any{"password": "taken-over"}, nil},
	}
	for _, tt := range tests {
		for _, scope := range []string{"read", "eval", "admin"} {
			res := bots[scope].do(tt.method, tt.path, tt.body, "Origin", "")
			label := tt.name + " with scope " + scope + ": " + res.body
			if strings.Contains(strings.Join(tt.allowed, " "), scope) {
				require.Contains(t, []int{http.StatusOK, http.StatusCreated}, res.code, label)
			} else {
				require.NotContains(t, []int{http.StatusOK, http.StatusCreated}, res.code, label)
				require.Contains(t, res.body, `"error"`, label)
			}
		}
	}
	res := bots["eval"].do("POST", "/jobset/p/j%2Fevaluate", jobsetBody(), "Origin", "")
	require.Equal(t, http.StatusForbidden, res.code, res.body)
	require.Contains(t, res.body, `needs \"admin\"`, "matched on the path the router sees")
	require.Equal(t, http.StatusForbidden, e.anon().do("POST", "/login", map[string]string{"username": "nobody", "password": "taken-over"}).code)
	require.True(t, signedIn(t, bots["pre-set"], "admin"))
}

// TestRevocationWithoutProjector: revoking a token, disabling a user and
// resetting a password hold at once even when no projector runs (M3: a
// revoked token stayed valid until the projector applied the event).
func TestRevocationWithoutProjector(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin, owner, member := e.as("admin"), e.as("owner"), e.as("member")
	var tok struct{ ID, Token string }
	res := owner.do("POST", "/user/owner/tokens", map[string]any{"name": "ci"})
	require.Equal(t, http.StatusCreated, res.code, res.body)
	res.json(t, &tok)
	bot := e.anon()
	bot.token = tok.Token
	memberBot := e.mint(member, "member", "ci", "")
	require.True(t, signedIn(t, bot, "owner"))
	require.True(t, signedIn(t, memberBot, "member"))

	e.stalled = true
	require.Equal(t, http.StatusOK, owner.do("POST", "/user/owner/tokens/"+tok.ID+"/revoke", nil).code)
	require.False(t, signedIn(t, bot, "owner"), "revoked token")
	var revoked *string
	require.NoError(t, e.pool.QueryRow(e.ctx, `select revoked_at::text from api_tokens where id = $1`, tok.ID).Scan(&revoked))
	require.Nil(t, revoked, "the read model has not seen the revocation")

	require.Equal(t, http.StatusOK, admin.do("POST", "/user/member/disable", nil).code)
	require.False(t, signedIn(t, memberBot, "member"), "token of a disabled user")
	require.False(t, signedIn(t, member, "member"), "session of a disabled user")
	login := e.anon().do("POST", "/login", map[string]string{"username": "member", "password": testPassword})
	require.Equal(t, http.StatusForbidden, login.code, login.body)

	require.Equal(t, http.StatusOK, admin.do("POST", "/user/owner", map[string]any{"password": "reset-password"}).code)
	require.False(t, signedIn(t, owner, "owner"), "session from before the reset")
}

// TestTokenLastUsed: token use is recorded (M3: last_used_at was never
// written), in the vault, where a replay of the read models keeps it.
func TestTokenLastUsed(t *testing.T) {
	e := newEnv(t, envOpts{})
	owner := e.as("owner")
	bot := e.mint(owner, "owner", "ci", "read")
	require.Contains(t, owner.do("GET", "/user/owner/tokens", nil).body, `"lastused":null`)
	require.True(t, signedIn(t, bot, "owner"))
	require.Contains(t, owner.do("GET", "/user/owner/tokens", nil).body, `"lastused":1700000000`)
	var n int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from vault.api_token_use`).Scan(&n))
	require.Equal(t, 1, n)
}

// TestTokenMintedByAdmin: a token an admin mints for another user names
// the admin in the actor of everything done with it (L7: only its
// creation named the admin). Others mint only for themselves.
func TestTokenMintedByAdmin(t *testing.T) {
	e := newEnv(t, envOpts{})
	require.Equal(t, http.StatusForbidden, e.as("member").do("POST", "/user/owner/tokens", map[string]any{"name": "x"}).code)
	bot := e.mint(e.as("admin"), "owner", "ci", "")
	res := bot.do("POST", "/build/1/keep/1", nil, "Origin", "")
	require.Equal(t, http.StatusOK, res.code, res.body)
	events := e.as("owner").do("GET", "/build/1/events", nil).body
	require.Contains(t, events, `"actor":"token:owner/ci(by admin)"`)
	own := e.mint(e.as("owner"), "owner", "own", "")
	require.Equal(t, http.StatusOK, own.do("POST", "/build/1/keep/0", nil, "Origin", "").code)
	require.Contains(t, e.as("owner").do("GET", "/build/1/events", nil).body, `"actor":"token:owner/own"`)
	require.Equal(t, http.StatusUnprocessableEntity, e.as("owner").do("POST", "/user/owner/tokens", map[string]any{"name": "x(by admin)"}).code,
		"a name cannot forge the minter")
}

// TestUpdateUserKeepsFieldsLeftOut: POST /user/U with JSON changes only
// the fields it names (L6: a password change erased the full name).
func TestUpdateUserKeepsFieldsLeftOut(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	get := func() string { return admin.do("GET", "/user/member", nil).body }
	require.Equal(t, http.StatusOK, admin.do("POST", "/user/member", map[string]any{"password": "new-password"}).code)
	require.Contains(t, get(), `"fullname":"MEMBER","emailaddress":"member@example.org"`)
	require.Equal(t, http.StatusOK, admin.do("POST", "/user/member", map[string]any{"emailaddress": "m@example.org"}).code)
	require.Contains(t, get(), `"fullname":"MEMBER","emailaddress":"m@example.org"`)
	require.Equal(t, http.StatusOK, admin.do("POST", "/user/member", map[string]any{"fullname": ""}).code)
	require.Contains(t, get(), `"fullname":"","emailaddress":"m@example.org"`, "a field named empty is cleared")
	require.Equal(t, http.StatusUnprocessableEntity, admin.do("POST", "/user/member", map[string]any{"emailaddress": ""}).code)
}
