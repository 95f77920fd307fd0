package web_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestJobsetVerifyFraction: verifyfraction is set through the JSON API and
// the HTML form of the jobset's update command, read back, and refused
// outside [0, 1] or when it is not a number, leaving the jobset as it was.
func TestJobsetVerifyFraction(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	formLogin(t, c, "admin")
	require.Equal(t, http.StatusCreated, c.do("PUT", "/project/tests",
		map[string]any{"displayname": "Tests", "owner": "admin", "enabled": true, "visible": true}).code)
	body := func(f any) map[string]any {
		return map[string]any{"enabled": 1, "visible": true, "name": "job", "type": 1, "flake": "github:nixos/nix",
			"checkinterval": 0, "schedulingshares": 100, "keepnr": 3, "verifyfraction": f}
	}
	read := func() any {
		e.catchUp()
		var got map[string]any
		res := e.anon().do("GET", "/jobset/tests/job", nil)
		require.Equal(t, http.StatusOK, res.code, res.body)
		res.json(t, &got)
		return got["verifyfraction"]
	}
	require.Less(t, c.do("PUT", "/jobset/tests/job", body(0.25)).code, 300)
	require.Equal(t, 0.25, read())

	for _, tc := range []struct {
		name string
		f    any
		code int
	}{
		{"above one", 1.5, http.StatusUnprocessableEntity},
		{"negative", -0.5, http.StatusUnprocessableEntity},
		{"a string", "all", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := c.do("PUT", "/jobset/tests/job", body(tc.f))
			require.GreaterOrEqual(t, res.code, 400, res.body)
			require.Less(t, res.code, 500, res.body)
			require.Equal(t, 0.25, read(), "nothing changed")
		})
	}

	t.Run("the HTML form", func(t *testing.T) {
		form := url.Values{"name": {"job"}, "type": {"1"}, "flake": {"github:nixos/nix"}, "enabled": {"1"},
			"visible": {"1"}, "schedulingshares": {"100"}, "keepnr": {"3"}, "checkinterval": {"0"}, "verifyfraction": {"1"}}
		res := c.do("POST", "/jobset/tests/job", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
		require.Less(t, res.code, 400, res.body)
		require.Equal(t, 1.0, read())
		page := c.do("GET", "/jobset/tests/job/edit", nil, "Accept", "text/html")
		require.Equal(t, http.StatusOK, page.code)
		require.Contains(t, page.body, `name="verifyfraction" value="1"`)

		form.Set("verifyfraction", "most")
		res = c.do("POST", "/jobset/tests/job", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html")
		require.Equal(t, http.StatusUnprocessableEntity, res.code, res.body)
		require.Equal(t, 1.0, read())
	})
}
