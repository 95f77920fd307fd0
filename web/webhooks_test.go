package web_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres"
	"buildledger/commands"
	"buildledger/domain/jobset"
	"buildledger/events"
)

func signBody(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// TestWebhookRepoMatch: a push names one repository, and only the
// jobsets of that repository are evaluated, whichever form of its URL
// they use; a repository whose name merely starts the same is not.
func TestWebhookRepoMatch(t *testing.T) {
	e := newEnv(t, envOpts{})
	jobsets := map[string]events.JobsetConfig{
		"ssh":     legacyWith("git@github.com:acme/widget.git main"),
		"sshurl":  legacyWith("ssh://git@GitHub.com/acme/widget/"),
		"private": legacyWith("https://github.com/acme/widget-private.git"),
		"longer":  legacyWith("https://github.com/acme/widgetx"),
		"sub":     legacyWith("https://github.com/acme/widget/extra"),
		"mirror":  legacyWith("https://evil.example/github.com/acme/widget"),
		"gitea":   legacyWith("https://gitea.example.org/acme/widget.git"),
		"flake": {Type: jobset.TypeFlake, Flake: "github:acme/widget/main", Enabled: 1, KeepNr: 3, CheckInterval: 300,
			SchedulingShares: 100},
		"flakeother": {Type: jobset.TypeFlake, Flake: "github:acme/widget-private", Enabled: 1, KeepNr: 3, CheckInterval: 300,
			SchedulingShares: 100},
	}
	for name, cfg := range jobsets {
		_, err := e.h.CreateJobset(e.ctx, e.md(), commands.CreateJobset{Project: "p", Name: name, Config: cfg})
		require.NoError(t, err, name)
	}
	e.catchUp()

	body := `{"repository":{"full_name":"acme/widget","clone_url":"https://github.com/acme/widget.git","ssh_url":"git@github.com:acme/widget.git"}}`
	res := e.anon().do("POST", "/api/push-github", body, "X-Hub-Signature-256", "sha256="+signBody("gh-secret", body))
	require.Equal(t, 200, res.code, res.body)
	require.JSONEq(t, `{"jobsetsTriggered":["p:flake","p:j","p:ssh","p:sshurl"]}`, res.body)

	body = `{"repository":{"clone_url":"https://Gitea.example.org/acme/widget","ssh_url":"git@gitea.example.org:acme/widget.git"}}`
	res = e.anon().do("POST", "/api/push-gitea", body, "X-Gitea-Signature", signBody("gitea-secret", body))
	require.JSONEq(t, `{"jobsetsTriggered":["p:gitea"]}`, res.body)

	res = e.as("evaluator").do("POST", "/api/push?repos=github.com/acme/widget-private", nil)
	require.JSONEq(t, `{"jobsetsTriggered":["p:flakeother","p:private"]}`, res.body)
	res = e.as("evaluator").do("POST", "/api/push?repos=acme", nil)
	require.JSONEq(t, `{"jobsetsTriggered":[]}`, res.body, "a fragment of a URL names no repository")
}

func legacyWith(src string) events.JobsetConfig {
	return events.JobsetConfig{NixExprInput: "src", NixExprPath: "release.nix", Enabled: 1, KeepNr: 3, CheckInterval: 300,
		SchedulingShares: 100, Inputs: []events.JobsetInput{{Name: "src", Type: "git", Value: src}}}
}

// TestWebhookRedelivery: a delivery is handled once. Its redelivery (the
// same id), and a captured push replayed under a new id (the same signed
// body), request nothing for a day, also after a restart; a failed
// delivery is forgotten so that its redelivery is handled.
func TestWebhookRedelivery(t *testing.T) {
	e := newEnv(t, envOpts{})
	anon := e.anon()
	push := func(body, id string) response {
		return anon.do("POST", "/api/push-github", body, "X-Hub-Signature-256", "sha256="+signBody("gh-secret", body), "X-GitHub-Delivery", id)
	}
	first := `{"after":"aaa","repository":{"full_name":"acme/widget"}}`
	second := `{"after":"bbb","repository":{"full_name":"acme/widget"}}`
	const handled, duplicate = `{"jobsetsTriggered":["p:j"]}`, `{"jobsetsTriggered":[],"duplicate":true}`
	steps := []struct {
		name, body, id, want string
	}{
		{"first delivery", first, "d-1", handled},
		{"redelivery", first, "d-1", duplicate},
		{"replayed under a new id", first, "d-forged", duplicate},
		{"replayed without an id", first, "", duplicate},
		{"another body under a used id", second, "d-1", duplicate},
		{"the next push", second, "d-2", handled},
	}
	for _, st := range steps {
		res := push(st.body, st.id)
		require.Equal(t, 200, res.code, "%s: %s", st.name, res.body)
		require.JSONEq(t, st.want, res.body, st.name)
	}

	// A restarted server reads the same record.
	d := postgres.NewDeliveries(e.pool)
	fresh, err := d.Claim(e.ctx, "github", []string{"delivery:d-2"})
	require.NoError(t, err)
	require.False(t, fresh, "remembered across a restart")
	fresh, err = d.Claim(e.ctx, "gitea", []string{"delivery:d-2"})
	require.NoError(t, err)
	require.True(t, fresh, "each forge has its own ids")

	// A delivery that failed is released, and then handled again.
	fresh, err = d.Claim(e.ctx, "github", []string{"delivery:d-3"})
	require.NoError(t, err)
	require.True(t, fresh)
	require.NoError(t, d.Release(e.ctx, "github", []string{"delivery:d-3"}))
	third := `{"after":"ccc","repository":{"full_name":"acme/widget"}}`
	require.JSONEq(t, handled, push(third, "d-3").body)

	// A day later, the record is gone.
	_, err = e.pool.Exec(e.ctx, `update vault.webhook_deliveries set received_at = received_at - interval '25 hours'`)
	require.NoError(t, err)
	require.JSONEq(t, handled, push(first, "d-1").body)
	var n int
	require.NoError(t, e.pool.QueryRow(e.ctx, `select count(*) from vault.webhook_deliveries`).Scan(&n))
	require.Equal(t, 2, n, "older deliveries are deleted")
}
