package web_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/domain/streams"
	"buildledger/events"
)

// TestHydraPutUser: PUT /user/<u> updates a user (204, as Hydra), keeps
// the fields left out, and creates a user for an admin (201); anonymous
// callers, other users, members changing their roles and tokens short of
// admin scope are refused.
func TestHydraPutUser(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	tests := []struct {
		name   string
		by     *client
		path   string
		body   map[string]any
		code   int
		expect string
	}{
		{"anonymous", e.anon(), "/user/member", map[string]any{"fullname": "X"}, http.StatusForbidden, ""},
		{"another user", e.as("nobody"), "/user/member", map[string]any{"fullname": "X"}, http.StatusForbidden, ""},
		{"a project owner on a member", e.as("owner"), "/user/member", map[string]any{"fullname": "X"}, http.StatusForbidden, ""},
		{"a user giving themselves roles", e.as("member"), "/user/member", map[string]any{"userroles": []string{"admin"}}, http.StatusForbidden, "only admins"},
		{"a user creating another", e.as("member"), "/user/newbie", map[string]any{"fullname": "N", "emailaddress": "n@example.org", "password": testPassword}, http.StatusForbidden, ""},
		{"a read token of an admin", e.mint(admin, "admin", "ro", "read"), "/user/member", map[string]any{"fullname": "X"}, http.StatusForbidden, "scope"},
		{"a body naming another user", admin, "/user/member", map[string]any{"username": "nobody", "fullname": "X"}, http.StatusBadRequest, ""},
		{"the user themselves", e.as("member"), "/user/member", map[string]any{"fullname": "Member M"}, http.StatusNoContent, ""},
		{"an admin creating", admin, "/user/newbie", map[string]any{"fullname": "New B", "emailaddress": "n@example.org", "password": testPassword, "userroles": []string{"eval-jobset"}}, http.StatusCreated, `"uri":"/user/newbie"`},
		{"an admin creating without a password", admin, "/user/newbie2", map[string]any{"fullname": "N"}, http.StatusUnprocessableEntity, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.by.do("PUT", tt.path, tt.body)
			require.Equal(t, tt.code, res.code, res.body)
			require.Contains(t, res.body, tt.expect)
		})
	}
	var fullName, email string
	require.NoError(t, e.pool.QueryRow(e.ctx, `select fullname, emailaddress from users where username = 'member'`).Scan(&fullName, &email))
	require.Equal(t, "Member M", fullName, "PUT changed the name")
	require.Equal(t, "member@example.org", email, "PUT kept the address it was not given")
	var roles []string
	require.NoError(t, e.pool.QueryRow(e.ctx, `select array_agg(role) from userroles where username = 'newbie'`).Scan(&roles))
	require.Equal(t, []string{"eval-jobset"}, roles)
	require.True(t, signedIn(t, e.as("newbie"), "newbie"))
}

// TestHydraResetPassword: an admin resets a password and sees the new one
// once; it works, and the user's sessions end. Without mail (#22), a user
// cannot reset their own: they are told why. Nobody else may.
func TestHydraResetPassword(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	refused := []struct {
		name   string
		by     *client
		code   int
		expect string
	}{
		{"anonymous", e.anon(), http.StatusForbidden, ""},
		{"another user", e.as("nobody"), http.StatusForbidden, ""},
		{"the user, without mail", e.as("member"), http.StatusForbidden, "no mail"},
		{"an admin's read token", e.mint(admin, "admin", "ro", "read"), http.StatusForbidden, "scope"},
		{"an admin's admin token", e.mint(admin, "admin", "rw", "admin"), http.StatusForbidden, "signed-in session"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.by.do("POST", "/user/member/reset-password", nil)
			require.Equal(t, tt.code, res.code, res.body)
			require.Contains(t, res.body, tt.expect)
		})
	}
	require.Equal(t, http.StatusNotFound, admin.do("POST", "/user/ghost/reset-password", nil).code)

	session := e.as("member")
	res := admin.do("POST", "/user/member/reset-password", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	var out struct{ UserName, Password, Redirect string }
	res.json(t, &out)
	require.Equal(t, "member", out.UserName)
	require.Len(t, out.Password, 16)
	require.False(t, signedIn(t, session, "member"), "the reset ends the user's sessions")
	c := e.anon()
	login := c.do("POST", "/login", map[string]string{"username": "member", "password": out.Password})
	require.Equal(t, http.StatusFound, login.code, login.body)
	old := e.anon().do("POST", "/login", map[string]string{"username": "member", "password": testPassword})
	require.Equal(t, http.StatusForbidden, old.code)

	// The event says a password changed, never which.
	recs, err := e.store.ReadStream(e.ctx, streams.User("member"), 0, 100)
	require.NoError(t, err)
	last, err := e.codec.Decode(recs[len(recs)-1])
	require.NoError(t, err)
	upd, ok := last.(*events.UserUpdated)
	require.True(t, ok, "%T", last)
	require.True(t, upd.PasswordChanged)
	require.NotContains(t, string(recs[len(recs)-1].Data), out.Password)

	// The HTML answer shows the password on the profile.
	page := admin.do("POST", "/user/nobody/reset-password", nil, "Accept", "text/html")
	require.Equal(t, http.StatusOK, page.code, page.body)
	require.Contains(t, page.body, "shown only this once")
}

// TestHydraUserDashboard: /user/<u>/dashboard redirects to the dashboard
// (Hydra's old address), for the user and admins; my-jobs-tab lists the
// current builds that name the user's address among their maintainers.
func TestHydraUserDashboard(t *testing.T) {
	e := newEnv(t, envOpts{})
	var jobsetID int64
	require.NoError(t, e.pool.QueryRow(e.ctx, `select id from jobsets where name = 'j'`).Scan(&jobsetID))
	e.appendEvents(streams.Build(7), events.BuildQueued{BuildID: 7, EvalID: 2, JobsetID: jobsetID, Project: "p", Jobset: "j",
		Job: "tended", NixName: "tended-1", DrvPath: drv("tended-7"), System: "x86_64-linux", Timestamp: now.Unix(),
		Outputs: []events.Output{{Name: "out", Path: out("tended-7")}},
		Meta:    events.JobMeta{Maintainers: "Member <MEMBER@example.org>, other@example.org"}})
	e.catchUp()
	tests := []struct {
		name, path string
		by         *client
		code       int
		expect     string
	}{
		{"redirect", "/user/member/dashboard", e.as("member"), http.StatusFound, ""},
		{"redirect for an admin", "/user/member/dashboard", e.as("admin"), http.StatusFound, ""},
		{"redirect, anonymous", "/user/member/dashboard", e.anon(), http.StatusForbidden, ""},
		{"redirect, another user", "/user/member/dashboard", e.as("nobody"), http.StatusForbidden, ""},
		{"redirect, no such user", "/user/ghost/dashboard", e.as("admin"), http.StatusNotFound, ""},
		{"my jobs", "/dashboard/member/my-jobs-tab", e.as("member"), http.StatusOK, `"job":"tended"`},
		{"my jobs for an admin", "/dashboard/member/my-jobs-tab", e.as("admin"), http.StatusOK, `"job":"tended"`},
		{"my jobs, none", "/dashboard/nobody/my-jobs-tab", e.as("nobody"), http.StatusOK, "[]"},
		{"my jobs, anonymous", "/dashboard/member/my-jobs-tab", e.anon(), http.StatusForbidden, ""},
		{"my jobs, another user", "/dashboard/member/my-jobs-tab", e.as("nobody"), http.StatusForbidden, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.by.do("GET", tt.path, nil)
			require.Equal(t, tt.code, res.code, res.body)
			require.Contains(t, res.body, tt.expect)
			if tt.code == http.StatusFound {
				require.Equal(t, "/dashboard/member", res.header.Get("Location"))
			}
		})
	}
}
