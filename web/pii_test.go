package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/events"
)

// TestEventsTabsNeedProjectAccess: the events tabs show what the read
// models no longer do, so only the project's owner, members and admins
// read them; anonymous JSON requests get a JSON 403, others 403 (H4).
func TestEventsTabsNeedProjectAccess(t *testing.T) {
	e := newEnv(t, envOpts{})
	want := map[string]int{"": http.StatusForbidden, "nobody": http.StatusForbidden, "creator": http.StatusForbidden,
		"owner": http.StatusOK, "member": http.StatusOK, "admin": http.StatusOK}
	for _, path := range []string{"/project/p/events", "/jobset/p/j/events", "/eval/1/events", "/build/1/events"} {
		for who, code := range want {
			res := e.as(who).do("GET", path, nil)
			require.Equal(t, code, res.code, "%s as %q: %s", path, who, res.body)
			if code != http.StatusOK {
				require.Equal(t, "application/json", res.header.Get("Content-Type"), "%s as %q", path, who)
				var body struct{ Error string }
				res.json(t, &body)
				require.NotEmpty(t, body.Error)
			}
		}
	}
}

// TestEventsTabMasksCredentials: a jobset input once held a token; the
// owner edits it out, and the history still has it in the log, but shows
// it masked (H4 a).
func TestEventsTabMasksCredentials(t *testing.T) {
	e := newEnv(t, envOpts{})
	const secret = "ghp_0123456789abcdefSECRET"
	cfg := func(value string) events.JobsetConfig {
		return events.JobsetConfig{Type: 0, NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, KeepNr: 3,
			CheckInterval: 300, SchedulingShares: 100, Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: value}}}
	}
	for _, v := range []string{"https://bob:" + secret + "@github.com/acme/widget.git", "https://github.com/acme/widget.git"} {
		_, err := e.h.UpdateJobset(e.ctx, e.md(), commands.UpdateJobset{Project: "p", Name: "j", Config: cfg(v)})
		require.NoError(t, err)
	}
	e.catchUp()
	var raw string
	require.NoError(t, e.pool.QueryRow(e.ctx, `select data::text from ledger.events where type = 'JobsetUpdated' order by position limit 1`).Scan(&raw))
	require.Contains(t, raw, secret, "the log keeps what was recorded")

	res := e.as("owner").do("GET", "/jobset/p/j/events", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.NotContains(t, res.body, "SECRET")
	require.Contains(t, res.body, "https://bob:***@github.com/acme/widget.git")
	var summaries int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from audit_log where summary like '%SECRET%'`).Scan(&summaries))
	require.Zero(t, summaries)
}

// TestForgetUser: DELETE /user/U (admins only) erases the user's profile
// from the read models and the views, ends their session and tokens, and
// stops their password from working (H4 c).
func TestForgetUser(t *testing.T) {
	e := newEnv(t, envOpts{})
	owner := e.as("owner")
	tok := owner.do("POST", "/user/owner/tokens", map[string]any{"name": "ci"})
	require.Equal(t, http.StatusCreated, tok.code, tok.body)
	var created struct{ Token string }
	tok.json(t, &created)
	bot := e.anon()
	bot.token = created.Token

	require.Equal(t, http.StatusForbidden, e.as("member").do("DELETE", "/user/owner", nil).code, "only admins forget users")
	admin := e.as("admin")
	require.Equal(t, http.StatusUnprocessableEntity, admin.do("DELETE", "/user/admin", nil).code, "not themselves")
	res := admin.do("DELETE", "/user/owner", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Equal(t, http.StatusNotFound, admin.do("DELETE", "/user/owner", nil).code, "forgotten once")

	page := admin.do("GET", "/user/owner", nil)
	require.Equal(t, http.StatusOK, page.code, page.body)
	require.Contains(t, page.body, `"fullname":"forgotten user"`)
	require.Contains(t, page.body, `"forgotten":true`)
	for _, path := range []string{"/user/owner", "/admin/users", "/project/p/events", "/project/p"} {
		body := admin.do("GET", path, nil).body
		require.NotContains(t, body, "owner@example.org", path)
		require.NotContains(t, body, "OWNER", path)
	}
	var n int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from users where emailaddress = 'owner@example.org' or fullname = 'OWNER'`).Scan(&n))
	require.Zero(t, n)

	require.Equal(t, http.StatusForbidden, owner.do("GET", "/current-user", nil).code, "the session is gone")
	require.Equal(t, http.StatusUnauthorized, bot.do("GET", "/current-user", nil).code, "so is the token")
	login := e.anon().do("POST", "/login", map[string]string{"username": "owner", "password": testPassword})
	require.Equal(t, http.StatusForbidden, login.code, "and the password")
	require.Equal(t, http.StatusNotFound, admin.do("POST", "/user/owner", map[string]any{"emailaddress": "o@x.org"}).code,
		fmt.Sprint("a forgotten user cannot be edited back"))
}
