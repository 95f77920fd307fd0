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

	"buildledger/domain/domainerr"
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
