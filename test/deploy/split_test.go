package deploy

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// getJSON fetches base+path as JSON.
func (d *deployment) getJSON(c *http.Client, base, path string) (int, string) {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	require.NoError(d.t, err)
	req.Header.Set("Accept", "application/json")
	res, err := c.Do(req)
	require.NoError(d.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(d.t, err)
	return res.StatusCode, string(b)
}

// TestSplitDeployment builds a jobset of 200 builds over a shared DAG on
// the split deployment (two evaluators, the queue runner on the Postgres
// bus, three SSH builders with chroot stores, Nix's default sandbox); both
// servers then answer the same JSON to the same requests, and a login on
// one is a login on the other (one --session-key-file).
func TestSplitDeployment(t *testing.T) {
	t.Parallel()
	d := startDeployment(t)
	d.cli("project", "create", "split", "--owner", "admin")
	d.submit("split", "main")
	bs := d.waitBuilt("split", "main", 10*time.Minute)
	for job, st := range bs {
		require.Equal(t, "1:"+strconv.Itoa(expectedStatus(job)), st, job)
	}
	d.settle()

	var ids []string
	rows, err := d.pool.Query(d.ctx, `select id::text from builds order by id limit 3`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	paths := []string{"/api/latestbuilds?nr=300", "/jobset/split/main", "/jobset/split/main/evals", "/project/split",
		"/api/queue?nr=10", "/api/jobsets?project=split", "/jobset/split/main/latest-eval"}
	for _, id := range ids {
		paths = append(paths, "/build/"+id, "/build/"+id+"/api/get-info")
	}
	plain := &http.Client{Timeout: 30 * time.Second}
	for _, p := range paths {
		code1, body1 := d.getJSON(plain, d.servers[0], p)
		code2, body2 := d.getJSON(plain, d.servers[1], p)
		require.Equal(t, code1, code2, p)
		require.Equal(t, http.StatusOK, code1, "%s: %s", p, body1)
		require.JSONEq(t, body1, body2, "%s differs between the servers", p)
	}

	// A session made on one server holds on the other.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Timeout: 30 * time.Second, Jar: jar}
	req, err := http.NewRequest(http.MethodPost, d.servers[0]+"/login", strings.NewReader(`{"username":"admin","password":"deploy-password"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Origin", d.servers[0])
	res, err := c.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	u0, _ := http.NewRequest(http.MethodGet, d.servers[0], nil)
	u1, _ := http.NewRequest(http.MethodGet, d.servers[1], nil)
	// The two servers differ by port only, which cookies ignore; set
	// them on the other explicitly all the same.
	jar.SetCookies(u1.URL, jar.Cookies(u0.URL))
	for _, base := range d.servers {
		code, me := d.getJSON(c, base, "/current-user")
		require.Equal(t, http.StatusOK, code, me)
		require.Contains(t, me, `"admin"`, "%s knows the session", base)
	}
}
