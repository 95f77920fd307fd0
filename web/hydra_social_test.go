package web_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHydraNews: admins post news (302 to /admin/news, as Hydra), list it
// and take it down; everyone else is refused, tokens short of admin scope
// too.
func TestHydraNews(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	res := admin.do("POST", "/admin/news/submit", map[string]string{"contents": "Maintenance on Sunday"})
	require.Equal(t, http.StatusFound, res.code, res.body)
	require.Equal(t, "/admin/news", res.header.Get("Location"))
	var posted struct{ ID int64 }
	res.json(t, &posted)
	require.Positive(t, posted.ID)

	res = admin.do("GET", "/admin/news", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	var items []map[string]any
	res.json(t, &items)
	require.Len(t, items, 1)
	for _, k := range []string{"id", "contents", "createtime", "author"} {
		require.Contains(t, items[0], k)
	}
	require.Equal(t, "Maintenance on Sunday", items[0]["contents"])
	require.Equal(t, "admin", items[0]["author"])
	require.EqualValues(t, now.Unix(), items[0]["createtime"])

	id := strconv.FormatInt(posted.ID, 10)
	refused := []struct {
		name string
		by   *client
		code int
	}{
		{"anonymous", e.anon(), http.StatusForbidden},
		{"a user", e.as("nobody"), http.StatusForbidden},
		{"a project owner", e.as("owner"), http.StatusForbidden},
		{"an admin's read token", e.mint(admin, "admin", "ro", "read"), http.StatusForbidden},
		{"an admin's eval token", e.mint(admin, "admin", "ci", "eval"), http.StatusForbidden},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if tt.code == http.StatusUnauthorized || tt.name == "a user" || tt.name == "a project owner" {
				require.Equal(t, tt.code, tt.by.do("GET", "/admin/news", nil).code)
			}
			require.Equal(t, tt.code, tt.by.do("POST", "/admin/news/submit", map[string]string{"contents": "spam"}).code)
			require.Equal(t, tt.code, tt.by.do("POST", "/admin/news/delete/"+id, nil).code)
		})
	}
	require.Equal(t, http.StatusUnprocessableEntity, admin.do("POST", "/admin/news/submit", map[string]string{"contents": " "}).code)

	res = admin.do("POST", "/admin/news/delete/"+id, nil)
	require.Equal(t, http.StatusFound, res.code, res.body)
	require.Equal(t, http.StatusNotFound, admin.do("POST", "/admin/news/delete/"+id, nil).code)
	require.Equal(t, http.StatusNotFound, admin.do("POST", "/admin/news/delete/x", nil).code)
	res = admin.do("GET", "/admin/news", nil)
	require.JSONEq(t, "[]", res.body)
}

// TestHydraStar: a signed-in user stars a job with star=1 and takes the
// star back with anything else ({"success":1}, as Hydra); the job shows on
// their dashboard only. Anonymous callers and read tokens are refused.
func TestHydraStar(t *testing.T) {
	e := newEnv(t, envOpts{})
	member := e.as("member")
	res := member.do("POST", "/job/p/j/hello/star", map[string]string{"star": "1"})
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.JSONEq(t, `{"success":1}`, res.body)
	res = member.do("GET", "/dashboard/member", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Contains(t, res.body, `"starredjobs":[{"project":"p","jobset":"j","job":"hello","builds":[{"id":5`)
	require.Contains(t, e.as("nobody").do("GET", "/dashboard/nobody", nil).body, `"starredjobs":[]`)

	for _, tt := range []struct {
		name string
		by   *client
		code int
	}{
		{"anonymous", e.anon(), http.StatusForbidden},
		{"a read token", e.mint(member, "member", "ro", "read"), http.StatusForbidden},
		{"an eval token", e.mint(member, "member", "ci", "eval"), http.StatusForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.code, tt.by.do("POST", "/job/p/j/hello/star", map[string]string{"star": "0"}).code)
		})
	}
	require.Equal(t, http.StatusNotFound, member.do("POST", "/job/p/nope/hello/star", map[string]string{"star": "1"}).code)
	var n int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from starredjobs where username = 'member'`).Scan(&n))
	require.Equal(t, 1, n, "the refused requests took no star back")

	res = member.do("POST", "/job/p/j/hello/star", map[string]string{"star": "0"})
	require.Equal(t, http.StatusOK, res.code, res.body)
	require.Contains(t, member.do("GET", "/dashboard/member", nil).body, `"starredjobs":[]`)
}
