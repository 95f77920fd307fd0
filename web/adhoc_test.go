package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/commands"
	"buildledger/domain/adhoc"
	"buildledger/domain/domainerr"
	"buildledger/domain/ids"
	"buildledger/domain/streams"
	"buildledger/events"
	"buildledger/web"
)

// fakeAdhoc records the submissions the web passes on.
type fakeAdhoc struct {
	mu   sync.Mutex
	subs []string
}

func (f *fakeAdhoc) SubmitBuild(_ context.Context, md events.Metadata, userName, via, drvPath string, export io.Reader) (int64, error) {
	if !strings.HasPrefix(md.Actor, "token:"+userName+"/") && md.Actor != "user:"+userName {
		return 0, fmt.Errorf("actor %q for %s", md.Actor, userName)
	}
	body := ""
	if export != nil {
		b, err := io.ReadAll(export)
		if err != nil {
			return 0, err
		}
		body = string(b)
	}
	if body == "not an export" {
		return 0, domainerr.Invalid("closure", "malformed export")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, strings.Join([]string{userName, strings.Fields(via)[0], drvPath, body}, " "))
	return 42, nil
}

const testDrv = "/nix/store/00000000000000000000000000000000-x.drv"

// TestAPIBuildScopes: POST /api/build needs a signed-in user or a token
// of scope submit or more, a derivation, and an export stream body; it
// answers the build id and its URL.
func TestAPIBuildScopes(t *testing.T) {
	fake := &fakeAdhoc{}
	e := newEnv(t, envOpts{cfg: func(c *web.Config) { c.Adhoc = fake }})
	admin := e.as("admin")
	post := func(c *client, query, ctype, body string) response {
		return c.do("POST", "/api/build"+query, body, "Content-Type", ctype)
	}
	tests := []struct {
		name         string
		c            *client
		query, ctype string
		body         string
		want         int
	}{
		{"anonymous", e.anon(), "?drv=" + testDrv, "application/x-nix-export", "", http.StatusForbidden},
		{"read token", e.mint(admin, "member", "r", "read"), "?drv=" + testDrv, "application/x-nix-export", "", http.StatusForbidden},
		{"submit token", e.mint(admin, "member", "s", "submit"), "?drv=" + testDrv, "application/x-nix-export", "EXPORT", http.StatusCreated},
		{"eval token", e.mint(admin, "member", "e", "eval"), "?drv=" + testDrv, "application/x-nix-export", "", http.StatusCreated},
		{"no drv", admin, "", "application/x-nix-export", "", http.StatusBadRequest},
		{"not a drv", admin, "?drv=/etc/passwd", "application/x-nix-export", "", http.StatusBadRequest},
		{"wrong body type", admin, "?drv=" + testDrv, "application/json", `{"a":1}`, http.StatusBadRequest},
		{"bad export", admin, "?drv=" + testDrv, "application/x-nix-export", "not an export", http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := post(tt.c, tt.query, tt.ctype, tt.body)
			require.Equal(t, tt.want, res.code, res.body)
			if tt.want == http.StatusCreated {
				var out struct {
					BuildID int64  `json:"buildId"`
					URL     string `json:"url"`
				}
				res.json(t, &out)
				require.Equal(t, int64(42), out.BuildID)
				require.True(t, strings.HasSuffix(out.URL, "/build/42"), out.URL)
			}
		})
	}
	require.Equal(t, []string{"member token " + testDrv + " EXPORT", "member token " + testDrv + " "}, fake.subs)
}

const memberKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPQijcovB+hrAprKNr9wUSnEOq2BINBx4i39dULCD8hN member@laptop"

// TestSSHKeysRoutes: a user (or an admin) adds and removes SSH keys from
// a signed-in session; a token cannot add one, others cannot see them.
func TestSSHKeysRoutes(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *web.Config) { c.SSHKeys = c.Commands.(web.SSHKeys) }})
	member, admin, nobody := e.as("member"), e.as("admin"), e.as("nobody")
	res := member.do("POST", "/user/member/ssh-keys", map[string]string{"key": memberKey})
	require.Equal(t, http.StatusCreated, res.code, res.body)
	res = admin.do("GET", "/user/member/ssh-keys", nil)
	require.Equal(t, http.StatusOK, res.code, res.body)
	var keys []struct{ Fingerprint, Key string }
	res.json(t, &keys)
	require.Len(t, keys, 1)
	require.Equal(t, "SHA256:mq2ekg6UM8oInWsOQND3D6oQrKEyebVyRkrssWPr8po", keys[0].Fingerprint)
	require.NotContains(t, keys[0].Key, "member@laptop", "the comment is not kept")

	require.Equal(t, http.StatusForbidden, nobody.do("GET", "/user/member/ssh-keys", nil).code)
	require.Equal(t, http.StatusForbidden, nobody.do("POST", "/user/member/ssh-keys", map[string]string{"key": memberKey}).code)
	bot := e.mint(admin, "member", "k", "admin")
	require.Equal(t, http.StatusForbidden, bot.do("POST", "/user/member/ssh-keys", map[string]string{"key": memberKey}).code, "a token cannot add a credential")
	require.Equal(t, http.StatusUnprocessableEntity, member.do("POST", "/user/member/ssh-keys", map[string]string{"key": "ssh-ed25519 !!"}).code)

	res = member.do("POST", "/user/member/ssh-keys/delete", map[string]string{"fingerprint": keys[0].Fingerprint})
	require.Equal(t, http.StatusOK, res.code, res.body)
	res = member.do("GET", "/user/member/ssh-keys", nil)
	res.json(t, &keys)
	require.Empty(t, keys)
}

// TestBuildPageSubmission: an ad-hoc build's page shows who submitted it,
// through which key, with which client and how large the closure was,
// from the read model the adhoc projection fills; an evaluated build's
// page has no such panel, and the JSON stays Hydra's.
func TestBuildPageSubmission(t *testing.T) {
	e := newEnv(t, envOpts{})
	// The seed wrote its builds without the allocator: reserve past them.
	e.appendEvents(streams.IDs(ids.KindBuild), &events.IDsReserved{Kind: ids.KindBuild, First: 1, Count: 1000})
	dep, top := "/nix/store/11111111111111111111111111111111-dep.drv", "/nix/store/22222222222222222222222222222222-top.drv"
	id, err := e.h.SubmitAdhocBuild(e.ctx, e.md(), commands.SubmitAdhocBuild{UserName: "admin", Via: adhoc.ViaSSH,
		KeyFingerprint: "SHA256:c2VjcmV0LWtleS1maW5nZXJwcmludA", ClientVersion: "2.7", DrvPath: top, System: "x86_64-linux",
		Outputs: []events.Output{{Name: "out", Path: "/nix/store/33333333333333333333333333333333-top"}},
		Paths:   []string{dep, top}, Edges: []events.ClosureEdge{{From: top, To: dep}}})
	require.NoError(t, err)
	e.catchUp()

	page := e.anon().do("GET", fmt.Sprintf("/build/%d", id), nil, "Accept", "text/html")
	require.Equal(t, http.StatusOK, page.code, page.body)
	for _, want := range []string{"<h2>Submission</h2>", `<a href="/dashboard/admin">admin</a>`,
		"SSH key <code>SHA256:c2VjcmV0LWtleS1maW5nZXJwcmludA</code>", "Nix serve protocol 2.7", "2 store paths, 1 references"} {
		require.Contains(t, page.body, want)
	}
	js := e.anon().do("GET", fmt.Sprintf("/build/%d", id), nil)
	require.Equal(t, http.StatusOK, js.code, js.body)
	require.NotContains(t, js.body, "SHA256:", "Hydra's build JSON has no submission")

	evaluated := e.anon().do("GET", "/build/1", nil, "Accept", "text/html")
	require.Equal(t, http.StatusOK, evaluated.code, evaluated.body)
	require.NotContains(t, evaluated.body, "<h2>Submission</h2>")
}
