package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/web"
)

func TestSameOrigin(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.as("admin")
	body := map[string]any{"displayname": "X", "enabled": true}
	tests := []struct {
		name string
		hdr  []string
		code int
	}{
		{"same origin", nil, http.StatusCreated},
		{"no origin with session cookie", []string{"Origin", ""}, http.StatusForbidden},
		{"other origin", []string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"other referer", []string{"Origin", "", "Referer", "https://evil.example/page"}, http.StatusForbidden},
		{"same referer", []string{"Origin", "", "Referer", e.srv.URL + "/project/p"}, http.StatusCreated},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := admin.do("PUT", "/project/o"+string(rune('a'+i)), body, tt.hdr...)
			require.Equal(t, tt.code, res.code, res.body)
		})
	}
	// Logging in from another site is refused too, and so is a login that
	// does not say where it comes from (login CSRF: a cross-site form,
	// or Origin "null" from a sandboxed frame, signing the victim in to
	// the attacker's account).
	login := map[string]string{"username": "admin", "password": testPassword}
	for _, hdr := range [][]string{{"Origin", "https://evil.example"}, {"Origin", ""}, {"Origin", "null"}} {
		res := e.anon().do("POST", "/login", login, hdr...)
		require.Equal(t, http.StatusForbidden, res.code, "%v: %s", hdr, res.body)
	}
	require.Equal(t, http.StatusFound, e.anon().do("POST", "/login", login).code, "from this site")
}

// TestSecureCookiesBehindTLS: behind a TLS proxy (SecureCookies, set when
// the base URL is https) the session cookie is Secure and browsers are
// told to keep to HTTPS.
func TestSecureCookiesBehindTLS(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *web.Config) { c.SecureCookies = true }})
	res := e.anon().do("POST", "/login", map[string]string{"username": "admin", "password": testPassword},
		"Origin", strings.Replace(e.srv.URL, "http://", "https://", 1))
	require.Equal(t, http.StatusFound, res.code, res.body)
	require.Contains(t, res.header.Get("Set-Cookie"), "Secure")
	require.Equal(t, "max-age=31536000", res.header.Get("Strict-Transport-Security"))
}

func TestLogin(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *web.Config) { c.LoginAttempts = 3 }})
	c := e.anon()
	res := c.do("POST", "/login", map[string]string{"username": "admin", "password": testPassword})
	require.Equal(t, http.StatusFound, res.code, "Hydra's answer: 302 to /current-user with the user")
	require.Equal(t, "/current-user", res.header.Get("Location"))
	require.JSONEq(t, `{"username":"admin","fullname":"ADMIN","emailaddress":"admin@example.org","type":"hydra","userroles":["admin"]}`, res.body)
	require.Contains(t, res.header.Get("Set-Cookie"), "HttpOnly")
	require.Contains(t, c.do("GET", "/current-user", nil).body, `"username":"admin"`)
	require.Equal(t, http.StatusNoContent, c.do("POST", "/logout", nil).code)
	require.Equal(t, 403, c.do("GET", "/current-user", nil).code)

	res = c.do("POST", "/login", map[string]string{"username": "admin", "password": "wrong"})
	require.Equal(t, http.StatusForbidden, res.code)
	require.Contains(t, res.body, "Bad username or password")
	require.Equal(t, 403, c.do("POST", "/login", map[string]string{"username": "ghost", "password": "x"}).code)
	res = c.do("POST", "/login", map[string]string{"username": "admin", "password": testPassword})
	require.Equal(t, http.StatusTooManyRequests, res.code, "fourth attempt in a minute")

	// A tampered session cookie is ignored.
	u, _ := url.Parse(e.srv.URL)
	forged := e.anon()
	forged.http.Jar.SetCookies(u, []*http.Cookie{{Name: "buildledger_session", Value: "eyJ1IjoiYWRtaW4iLCJlIjo5OTk5OTk5OTk5fQ.AAAA"}})
	require.Equal(t, 403, forged.do("GET", "/current-user", nil).code)
}

// TestLoginLimitsBehindProxy: behind a trusted proxy each client is
// limited by its own address (X-Forwarded-For), not the proxy's; guesses
// spread over many addresses still count against the account; and a
// client cannot forge its address where no proxy is trusted.
func TestLoginLimitsBehindProxy(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *web.Config) {
		c.LoginAttempts = 3
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}})
	guess := func(user, addr string) int {
		return e.anon().do("POST", "/login", map[string]string{"username": user, "password": "wrong"}, "X-Forwarded-For", addr).code
	}
	for i := range 3 {
		require.Equal(t, http.StatusForbidden, guess("admin", fmt.Sprintf("198.51.100.%d", i)), "attempt %d", i)
	}
	require.Equal(t, http.StatusTooManyRequests, guess("admin", "198.51.100.9"), "a fourth guess at admin, from a fourth address")
	require.Equal(t, http.StatusForbidden, guess("owner", "198.51.100.9"), "another account, from that address")
	for range 3 {
		guess("nobody", "203.0.113.7, 198.51.100.20")
	}
	require.Equal(t, http.StatusTooManyRequests, guess("member", "203.0.113.7, 198.51.100.20"),
		"the last address the proxy saw is the client's; what the client put before it counts for nothing")

	direct := newEnv(t, envOpts{cfg: func(c *web.Config) { c.LoginAttempts = 3 }})
	for i := range 3 {
		direct.anon().do("POST", "/login", map[string]string{"username": fmt.Sprintf("u%d", i), "password": "x"}, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
	}
	res := direct.anon().do("POST", "/login", map[string]string{"username": "u9", "password": "x"}, "X-Forwarded-For", "198.51.100.9")
	require.Equal(t, http.StatusTooManyRequests, res.code, "no proxy trusted: X-Forwarded-For is ignored")
}

func TestHTMLForms(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	post := func(path string, form url.Values) *http.Response {
		req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", e.srv.URL)
		res, err := c.http.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res
	}
	res := post("/login", url.Values{"username": {"creator"}, "password": {testPassword}, "next": {"//evil.example"}})
	require.Equal(t, http.StatusFound, res.StatusCode)
	require.Equal(t, "/", res.Header.Get("Location"), "no open redirect")
	res = post("/create-project", url.Values{"name": {"web"}, "displayname": {"Web"}, "enabled": {"1"}, "visible": {"1"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	require.Equal(t, "/project/web", res.Header.Get("Location"))
	res = post("/project/web/create-jobset", url.Values{"name": {"main"}, "type": {"0"}, "nixexprinput": {"src"},
		"nixexprpath": {"release.nix"}, "enabled": {"1"}, "checkinterval": {"60"}, "schedulingshares": {"10"}, "keepnr": {"2"},
		"inputs": {"src git https://example.org/web.git\nflag boolean true"}})
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	got := c.do("GET", "/jobset/web/main", nil)
	require.Contains(t, got.body, `"flag":{"name":"flag","type":"boolean","value":"true"`)
	require.Contains(t, got.body, `"checkinterval":60`)
	// The creator owns the new project, so may edit it.
	html := c.do("GET", "/project/web/edit", nil, "Accept", "text/html")
	require.Equal(t, 200, html.code)
	require.Contains(t, html.body, `value="creator"`)
	// A form post with a malformed number is a 422 page.
	res = post("/jobset/web/main", url.Values{"checkinterval": {"soon"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
}

func TestPrivateMode(t *testing.T) {
	e := newEnv(t, envOpts{private: true})
	anon := e.anon()
	require.Equal(t, 403, anon.do("GET", "/", nil).code)
	require.Equal(t, 403, anon.do("GET", "/build/1", nil).code)
	res := anon.do("GET", "/project/p", nil, "Accept", "text/html")
	require.Equal(t, http.StatusSeeOther, res.code)
	require.Equal(t, "/login?next=%2Fproject%2Fp", res.header.Get("Location"))
	require.Equal(t, 200, anon.do("GET", "/login", nil, "Accept", "text/html").code)
	require.Equal(t, 200, e.as("nobody").do("GET", "/", nil).code)
}

func TestAPITokens(t *testing.T) {
	e := newEnv(t, envOpts{})
	owner := e.as("owner")
	res := owner.do("POST", "/user/owner/tokens", map[string]any{"name": "ci"})
	require.Equal(t, http.StatusCreated, res.code, res.body)
	var tok struct{ ID, Name, Token string }
	res.json(t, &tok)
	require.True(t, strings.HasPrefix(tok.Token, "blt_"))
	require.Equal(t, 422, owner.do("POST", "/user/owner/tokens", map[string]any{"name": ""}).code)

	list := owner.do("GET", "/user/owner/tokens", nil)
	require.Contains(t, list.body, `"name":"ci"`)
	require.NotContains(t, list.body, tok.Token, "the secret is shown once")
	var stored string
	require.NoError(t, e.pool.QueryRow(e.ctx, `select token_hash from api_tokens where id = $1`, tok.ID).Scan(&stored))
	require.NotContains(t, stored, tok.Token[4:], "only a hash is stored")

	bot := e.anon()
	bot.token = tok.Token
	require.Contains(t, bot.do("GET", "/current-user", nil).body, `"username":"owner"`)
	// A bearer request needs no Origin and acts as the token.
	res = bot.do("POST", "/build/1/keep/1", nil, "Origin", "")
	require.Equal(t, 200, res.code, res.body)
	require.Contains(t, bot.do("GET", "/build/1/events", nil).body, `"actor":"token:owner/ci"`)
	require.Equal(t, 403, bot.do("DELETE", "/jobset/p/j", nil).code, "an owner may not delete jobsets")

	bad := e.anon()
	bad.token = "blt_nope"
	require.Equal(t, 401, bad.do("GET", "/", nil).code)
	require.Equal(t, 403, e.as("nobody").do("POST", "/user/owner/tokens/"+tok.ID+"/revoke", nil).code)
	require.Equal(t, 404, e.as("admin").do("POST", "/user/admin/tokens/"+tok.ID+"/revoke", nil).code, "not admin's token")
	require.Equal(t, 200, owner.do("POST", "/user/owner/tokens/"+tok.ID+"/revoke", nil).code)
	require.Equal(t, 401, bot.do("GET", "/current-user", nil).code)
}

// TestDownloads serves product files through Outputs in a CSP sandbox,
// and answers its refusals (the confinement rules are
// binarycache.StoreFiles', tested there): a path that climbs out of a
// product, also URL-encoded, a product outside the store, an unknown
// product and a link that leads out of the output.
func TestDownloads(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	res := c.do("GET", "/build/1/download/2/hello.tar.gz", nil)
	require.Equal(t, 200, res.code, res.body)
	require.Equal(t, "tarball", res.body)
	require.Equal(t, "sandbox", res.header.Get("Content-Security-Policy"))
	res = c.do("GET", "/build/1/download/1", nil)
	require.Equal(t, 302, res.code, "a named product redirects to its default path")
	require.Equal(t, "/build/1/download/1/manual/share", res.header.Get("Location"))
	res = c.do("GET", "/build/1/download/1/manual/share", nil)
	require.Equal(t, "<h1>manual</h1>", res.body, "directory product: the name segment dropped, then index.html")
	res = c.do("GET", "/build/1/download/manual/share/index.html", nil)
	require.Equal(t, "<h1>manual</h1>", res.body, "products by name")
	for _, p := range []string{
		"/build/1/download/1/../../../../etc/passwd",
		"/build/1/download/1/share/%2e%2e/%2e%2e/secret",
		"/build/1/download/3/passwd",
		"/build/1/download/9/x",
		"/build/1/download/1/share/passwd",
	} {
		res := c.do("GET", p, nil)
		require.Contains(t, []int{400, 403, 404}, res.code, p)
		require.NotContains(t, res.body, "root:", p)
		require.NotContains(t, res.body, "other project", p)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.anon()
	res := c.do("GET", "/search?query="+strings.Repeat("a", 5000), nil)
	require.Equal(t, http.StatusRequestURITooLong, res.code)
	require.Contains(t, res.body, `"error"`)
	res = e.as("admin").do("PUT", "/project/big", `{"description":"`+strings.Repeat("x", 2<<20)+`"}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, res.code)
	require.Equal(t, http.StatusBadRequest, c.do("POST", "/login", `{"username":`).code)
	res = c.do("GET", "/", nil, "Accept", "text/html")
	require.Contains(t, res.header.Get("Content-Type"), "text/html")
	require.Equal(t, "Accept", res.header.Get("Vary"))
	require.Contains(t, res.body, `<a href="/project/p">Project P</a>`)
}

// TestHostAllowList: a page whose name an attacker rebinds to the
// server's address (DNS rebinding) sends that name as Host, and is
// refused; IP addresses, localhost and the configured names are served.
func TestHostAllowList(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *web.Config) { c.AllowedHosts = []string{"ci.example.org"} }})
	_, port, _ := strings.Cut(strings.TrimPrefix(e.srv.URL, "http://"), ":")
	tests := []struct {
		host string
		code int
	}{
		{"127.0.0.1:" + port, http.StatusOK},
		{"[::1]:" + port, http.StatusOK},
		{"192.0.2.7", http.StatusOK},
		{"localhost:" + port, http.StatusOK},
		{"LocalHost", http.StatusOK},
		{"ci.example.org", http.StatusOK},
		{"CI.Example.org.:443", http.StatusOK},
		{"evil.example:" + port, http.StatusMisdirectedRequest},
		{"evil.example", http.StatusMisdirectedRequest},
		{"ci.example.org.evil.example", http.StatusMisdirectedRequest},
		{"localhost.evil.example", http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			req, err := http.NewRequest("GET", e.srv.URL+"/project/p", nil)
			require.NoError(t, err)
			req.Host = tt.host
			req.Header.Set("Accept", "application/json")
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			require.Equal(t, tt.code, res.StatusCode)
			if tt.code != http.StatusOK {
				require.Equal(t, "application/json", res.Header.Get("Content-Type"))
				var body map[string]string
				require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
				require.Contains(t, body["error"], "does not answer for host")
			}
		})
	}
}
