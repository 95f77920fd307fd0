package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPublicDashboard is Hydra's rule for /dashboard/<user> and its
// tabs: the user and admins always see them, others (signed in or not)
// only once the user set
// publicdashboard, which only the user or an admin may set, through the
// JSON API or the profile form.
func TestPublicDashboard(t *testing.T) {
	e := newEnv(t, envOpts{})
	anon, owner, member, admin := e.anon(), e.as("owner"), e.as("member"), e.as("admin")
	viewers := map[string]*client{"anonymous": anon, "owner": owner, "member": member, "admin": admin}
	sees := func(t *testing.T, user string, want map[string]int) {
		t.Helper()
		for name, c := range viewers {
			// The dashboard's tabs follow the dashboard's rule.
			for _, path := range []string{"/dashboard/" + user, "/dashboard/" + user + "/my-jobs-tab", "/dashboard/" + user + "/my-jobsets-tab"} {
				res := c.do("GET", path, nil)
				require.Equal(t, want[name], res.code, "%s looks at %s: %s", name, path, res.body)
			}
		}
	}
	private := map[string]int{"anonymous": 403, "owner": 200, "member": 403, "admin": 200}
	public := map[string]int{"anonymous": 200, "owner": 200, "member": 200, "admin": 200}

	t.Run("private by default", func(t *testing.T) {
		sees(t, "owner", private)
		res := anon.do("GET", "/dashboard/owner", nil)
		require.Contains(t, res.body, "not public", "a JSON error body")
		require.NotContains(t, res.body, "jobsets")
	})
	t.Run("others may not set it", func(t *testing.T) {
		for _, c := range []*client{anon, member} {
			res := c.do("POST", "/user/owner", map[string]any{"publicdashboard": true})
			require.Contains(t, []int{401, 403}, res.code, res.body)
		}
		sees(t, "owner", private)
	})
	t.Run("the user makes it public", func(t *testing.T) {
		res := owner.do("POST", "/user/owner", map[string]any{"publicdashboard": true})
		require.Less(t, res.code, 400, res.body)
		e.catchUp()
		sees(t, "owner", public)
		u := owner.do("GET", "/user/owner", nil)
		require.Contains(t, u.body, `"publicdashboard":true`)
	})
	t.Run("a change that leaves it out keeps it", func(t *testing.T) {
		res := owner.do("POST", "/user/owner", map[string]any{"fullname": "Owner O"})
		require.Less(t, res.code, 400, res.body)
		e.catchUp()
		sees(t, "owner", public)
	})
	t.Run("the user makes it private", func(t *testing.T) {
		res := owner.do("POST", "/user/owner", map[string]any{"publicdashboard": 0})
		require.Less(t, res.code, 400, res.body)
		e.catchUp()
		sees(t, "owner", private)
	})
	t.Run("an admin sets another user's, as Hydra's forms send it", func(t *testing.T) {
		res := admin.do("POST", "/user/member", map[string]any{"publicdashboard": "on"})
		require.Less(t, res.code, 400, res.body)
		e.catchUp()
		sees(t, "member", map[string]int{"anonymous": 200, "owner": 200, "member": 200, "admin": 200})
	})
	t.Run("the profile form: the box checked, then unchecked", func(t *testing.T) {
		post := func(fields url.Values) {
			res := owner.do("POST", "/user/owner", fields.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
			require.Less(t, res.code, 400, res.body)
			e.catchUp()
		}
		post(url.Values{"fullname": {"Owner"}, "dashboardform": {"1"}, "publicdashboard": {"1"}})
		sees(t, "owner", public)
		page := owner.do("GET", "/user/owner", nil, "Accept", "text/html")
		require.Equal(t, http.StatusOK, page.code)
		require.True(t, strings.Contains(page.body, `name="publicdashboard" value="1" checked`), "the box shows the setting")
		post(url.Values{"fullname": {"Owner"}, "dashboardform": {"1"}})
		sees(t, "owner", private)
	})
}
