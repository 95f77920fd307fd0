package web_test

import (
	"io"
	"mime/quotedprintable"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/notify/smtpsend"
	"buildledger/adapters/notify/smtptest"
	"buildledger/adapters/postgres"
	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/password"
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

// TestHydraResetPassword: as Hydra, the user or an admin resets a
// password in a signed-in session, and the new password is mailed to the
// user's address (through the outbox, delivered to a real SMTP server);
// it works, and the user's sessions end. Nobody else may, tokens may not,
// and a user without an address is told so. The password is in no event,
// the outbox forgets it once the mail is delivered, and the mail's link
// never comes from the request's Host header.
func TestHydraResetPassword(t *testing.T) {
	smtp := smtptest.Start(t)
	e := newEnv(t, envOpts{mail: true})
	admin := e.as("admin")
	// A forgotten user keeps the row, without an address.
	hash, err := password.Hash(testPassword, fastHash)
	require.NoError(t, err)
	_, err = e.h.CreateUser(e.ctx, e.md(), commands.CreateUser{UserName: "noaddr", EmailAddress: "noaddr@example.org", PasswordHash: hash})
	require.NoError(t, err)
	_, err = e.h.ForgetUser(e.ctx, e.md(), commands.ForgetUser{UserName: "noaddr"})
	require.NoError(t, err)
	refused := []struct {
		name   string
		by     *client
		code   int
		expect string
	}{
		{"anonymous", e.anon(), http.StatusForbidden, ""},
		{"another user", e.as("nobody"), http.StatusForbidden, ""},
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
	noaddr := admin.do("POST", "/user/noaddr/reset-password", nil)
	require.Equal(t, http.StatusBadRequest, noaddr.code, noaddr.body)
	require.Contains(t, noaddr.body, "no e-mail address")

	// deliver runs the delivery worker and returns the new password in
	// the mail to addr.
	deliver := func(addr string) string {
		t.Helper()
		rt := commands.NewRuntime(e.store, e.codec, commands.Options{Clock: commands.ClockFunc(func() time.Time { return now }), Host: "test"})
		w := outbox.NewWorker(rt, postgres.NewOutbox(e.pool), map[string]outbox.Sender{"email": &smtpsend.Sender{Server: smtp.Addr,
			From: "hydra@example.org", Now: time.Now}}, outbox.WorkerOptions{})
		_, err := w.DeliverDue(e.ctx)
		require.NoError(t, err)
		msgs := smtp.Messages(t)
		m := msgs[len(msgs)-1]
		require.Equal(t, addr, m.Header.Get("To"))
		require.Equal(t, "Hydra password reset", m.Header.Get("Subject"))
		body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
		require.NoError(t, err)
		// Without a base URL the mail names no link: the request's
		// Host header is the asker's to choose.
		require.Contains(t, string(body), "change it on your profile")
		require.NotContains(t, string(body), strings.TrimPrefix(e.srv.URL, "http://"))
		fields := strings.Fields(string(body)[strings.Index(string(body), "new password is:")+len("new password is:"):])
		require.NotEmpty(t, fields)
		return fields[0]
	}

	session := e.as("member")
	res := admin.do("POST", "/user/member/reset-password", nil, "Accept", "application/json")
	require.Equal(t, http.StatusNoContent, res.code, res.body)
	require.NotContains(t, res.body, "password\"", "the answer does not show the password")
	pw := deliver("member@example.org")
	require.Len(t, pw, 16)
	require.False(t, signedIn(t, session, "member"), "the reset ends the user's sessions")
	login := e.anon().do("POST", "/login", map[string]string{"username": "member", "password": pw})
	require.Equal(t, http.StatusFound, login.code, login.body)
	old := e.anon().do("POST", "/login", map[string]string{"username": "member", "password": testPassword})
	require.Equal(t, http.StatusForbidden, old.code)

	// The log holds no password, and the outbox forgot the mail.
	recs, err := e.store.ReadAll(e.ctx, events.Position{}, 100000)
	require.NoError(t, err)
	for _, r := range recs {
		require.NotContains(t, string(r.Data), pw)
		require.NotContains(t, string(r.Data), "member@example.org", "%s", r.Type)
	}
	var kept int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from commandstate.outbox`).Scan(&kept))
	require.Zero(t, kept)

	// The user resets their own password, as in Hydra, from the HTML form.
	self := e.as("nobody")
	page := self.do("POST", "/user/nobody/reset-password", nil, "Accept", "text/html")
	require.Equal(t, http.StatusOK, page.code, page.body)
	require.Contains(t, page.body, "mailed")
	pw = deliver("nobody@example.org")
	login = e.anon().do("POST", "/login", map[string]string{"username": "nobody", "password": pw})
	require.Equal(t, http.StatusFound, login.code, login.body)
}

// TestResetPasswordWithoutMail: a server without mail refuses a reset
// (501), and nothing changes.
func TestResetPasswordWithoutMail(t *testing.T) {
	e := newEnv(t, envOpts{})
	res := e.as("admin").do("POST", "/user/member/reset-password", nil)
	require.Equal(t, http.StatusNotImplemented, res.code, res.body)
	require.Contains(t, res.body, "no mail")
	login := e.anon().do("POST", "/login", map[string]string{"username": "member", "password": testPassword})
	require.Equal(t, http.StatusFound, login.code, login.body)
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
