package hydraconf_test

import (
	"fmt"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"buildledger/domain/hydraconf"
)

// files is a file system of names to contents.
func files(m map[string]string) hydraconf.ReadFile {
	return func(name string) ([]byte, error) {
		s, ok := m[name]
		if !ok {
			return nil, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
		}
		return []byte(s), nil
	}
}

func parse(t *testing.T, text string) *hydraconf.Block {
	t.Helper()
	b, err := hydraconf.Parse("/etc/hydra/hydra.conf", files(map[string]string{"/etc/hydra/hydra.conf": text}))
	require.NoError(t, err)
	return b
}

func TestParseSyntax(t *testing.T) {
	tests := []struct {
		name, text string
		key        string
		want       []string
	}{
		{"equals", "max_log_size = 100\n", "max_log_size", []string{"100"}},
		{"space", "max_log_size\t100", "max_log_size", []string{"100"}},
		{"no spaces", "base_uri=https://ci.example.org", "base_uri", []string{"https://ci.example.org"}},
		{"quotes removed", `notification_sender = "hydra@example.org"`, "notification_sender", []string{"hydra@example.org"}},
		{"trailing comment", "max_log_size = 100 # bytes", "max_log_size", []string{"100"}},
		{"escaped hash", `tracker = a\#b`, "tracker", []string{"a#b"}},
		{"comment line", "# max_log_size = 1\n  # indented\nmax_log_size = 2", "max_log_size", []string{"2"}},
		{"c comment", "/* max_log_size = 1\nmax_log_size = 3 */\nmax_log_size = 2", "max_log_size", []string{"2"}},
		{"one-line c comment", "/* x */ max_log_size = 2", "max_log_size", []string{"2"}},
		{"continued", "store_uri = file:///a\\\n?compression=xz", "store_uri", []string{"file:///a?compression=xz"}},
		{"repeated", "a = 1\na = 2", "a", []string{"1", "2"}},
		{"here-document", "tracker <<EOT\n<b>x</b>\n  y\nEOT\nz = 1", "tracker", []string{"<b>x</b>\n  y"}},
		{"crlf", "max_log_size = 5\r\n", "max_log_size", []string{"5"}},
		{"empty value", "private =", "private", []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, parse(t, tt.text).Get(tt.key))
		})
	}
}

func TestParseSections(t *testing.T) {
	b := parse(t, `
<git-input>
  timeout = 3600
  <https://github.com/owner/repo.git>
    timeout = 7200
  </https://github.com/owner/repo.git>
</git-input>
<githubstatus>
  jobs = test:.*
  authorization = token abc
</githubstatus>
<githubstatus>
  jobs = other:.*
</githubstatus>
<statsd host/>
`)
	gi := b.Blocks("git-input")
	require.Len(t, gi, 1)
	assert.Equal(t, []string{"3600"}, gi[0].Get("timeout"))
	repo := gi[0].Blocks("https://github.com/owner/repo.git")
	require.Len(t, repo, 1)
	assert.Equal(t, []string{"7200"}, repo[0].Get("timeout"))
	assert.Len(t, b.Blocks("githubstatus"), 2)
	require.Len(t, b.Blocks("statsd"), 1)
	assert.Equal(t, "host", b.Entries[len(b.Entries)-1].Arg)
}

func TestParseInclude(t *testing.T) {
	fsys := files(map[string]string{
		"/etc/hydra/hydra.conf":        "a = 1\ninclude secrets.conf\nInclude /abs/more.conf\nb = 4",
		"/etc/hydra/secrets.conf":      "<gitea_authorization>\ninclude tokens/owner.conf\n</gitea_authorization>",
		"/etc/hydra/tokens/owner.conf": "owner = tok",
		"/abs/more.conf":               "a = 3",
	})
	b, err := hydraconf.Parse("/etc/hydra/hydra.conf", fsys)
	require.NoError(t, err)
	assert.Equal(t, []string{"1", "3"}, b.Get("a"))
	assert.Equal(t, []string{"4"}, b.Get("b"))
	g := b.Blocks("gitea_authorization")
	require.Len(t, g, 1)
	assert.Equal(t, []string{"tok"}, g[0].Get("owner"))
	assert.Equal(t, "/etc/hydra/tokens/owner.conf:1", g[0].Entries[0].Where)
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unclosed section", map[string]string{"/c": "<ldap>\nx = 1"}, "/c:1: <ldap> is never closed"},
		{"wrong close", map[string]string{"/c": "<ldap>\n</git-input>"}, "/c:2: </git-input> closes <ldap> of /c:1"},
		{"stray close", map[string]string{"/c": "</ldap>"}, "/c:1: </ldap> closes no section"},
		{"bad tag", map[string]string{"/c": "<ldap"}, "a section tag ends with '>'"},
		{"empty tag", map[string]string{"/c": "<>"}, "a section without a name"},
		{"open comment", map[string]string{"/c": "/* x"}, "a /* comment is never closed"},
		{"open here-document", map[string]string{"/c": "x <<END\nabc"}, "here-document END is never ended"},
		{"missing include", map[string]string{"/c": "include nope.conf"}, "/c:1: include: open /nope.conf"},
		{"include cycle", map[string]string{"/c": "include /c"}, "includes nest deeper than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hydraconf.Parse("/c", files(tt.files))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestInterpretSettings(t *testing.T) {
	c, err := hydraconf.Interpret(parse(t, `
max_output_size = 4294967296
max_log_size = 67108864
max_db_connections = 20
evaluator_workers = 4
evaluator_max_memory_size = 8192
max_concurrent_evals = 2
allow_import_from_derivation = true
base_uri = https://ci.example.org
use-substitutes = 1
private = 0
gc_roots_dir = /var/lib/hydra/gcroots
queue_runner_metrics_address = 127.0.0.1:9198
path_input_cache_validity_seconds = 600
binary_cache_secret_key_file = /etc/hydra/key.sec
`))
	require.NoError(t, err)
	got := map[string]string{}
	for _, s := range c.Settings {
		got[s.Flag] = s.Value
	}
	assert.Equal(t, map[string]string{
		"max-output-size": "4294967296", "max-log-size": "67108864", "max-db-connections": "20",
		"eval-workers": "4", "eval-max-memory": "8192", "max-concurrent-evals": "2", "max-concurrent": "2",
		"allow-import-from-derivation": "true", "base-url": "https://ci.example.org", "use-substitutes": "true",
		"private": "false", "gc-roots": "/var/lib/hydra/gcroots", "status-listen": "127.0.0.1:9198",
		"path-input-cache-validity": "600s", "cache-secret-key-file": "/etc/hydra/key.sec",
	}, got)
	assert.Empty(t, c.Unknown)
	assert.False(t, c.HasSecrets, "a key file's path is not a secret")
}

func TestInterpretStoreURI(t *testing.T) {
	tests := []struct {
		name, uri string
		want      map[string]string
		notes     int
	}{
		{"file with key and compression", "file:///var/cache?compression=xz&secret-key=/etc/k.sec&write-nar-listing=1",
			map[string]string{"cache": "file:///var/cache?compression=xz", "cache-secret-key-file": "/etc/k.sec"}, 1},
		{"ssh", "ssh://nix@cache?ssh-key=/etc/id&remote-store=/nix",
			map[string]string{"cache": "ssh://nix@cache?ssh-key=/etc/id&remote-store=/nix"}, 0},
		{"s3 as cache.nixos.org's", "s3://bucket?region=eu-west-1&secret-key=/etc/k.sec&compression=xz&write-nar-listing=1&ls-compression=br&log-compression=br",
			map[string]string{"cache": "s3://bucket?region=eu-west-1&compression=xz&write-nar-listing=1&ls-compression=br&log-compression=br",
				"cache-secret-key-file": "/etc/k.sec"}, 0},
		{"s3 on MinIO, with what --cache does not take dropped", "s3://c?endpoint=http://minio:9000&profile=ci&parallel-compression=true&multipart-upload=true&narinfo-compression=xz",
			map[string]string{"cache": "s3://c?endpoint=http://minio:9000&profile=ci&parallel-compression=true"}, 2},
		{"other schemes pass for --cache to refuse", "gs://bucket?secret-key=/k",
			map[string]string{"cache": "gs://bucket?secret-key=/k"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := hydraconf.Interpret(parse(t, "store_uri = "+tt.uri))
			require.NoError(t, err)
			got := map[string]string{}
			for _, s := range c.Settings {
				got[s.Flag] = s.Value
				assert.True(t, s.Secret, "store_uri may name a key file: never logged")
			}
			assert.Equal(t, tt.want, got)
			assert.Len(t, c.Notes, tt.notes)
		})
	}
}

func TestInterpretKeptAndSecrets(t *testing.T) {
	c, err := hydraconf.Interpret(parse(t, `
email_notification = 1
notification_sender = hydra@example.org
log_prefix = https://logs.example.org/
<git-input>
  timeout = 3600
</git-input>
<githubstatus>
  jobs = p:j:.*
  authorization = token-1
</githubstatus>
<gitea_authorization>
  alice = token-2
</gitea_authorization>
<ldap>
  <config>
    bindpw = hunter2
  </config>
</ldap>
<runcommand>
  job = p:*:*
  command = cat "$HYDRA_JSON"
</runcommand>
<runcommand>
  command = true
</runcommand>
<dynamicruncommand>
  enable = 1
</dynamicruncommand>
`))
	require.NoError(t, err)
	k := c.Kept
	require.Len(t, k.RunCommand, 2)
	assert.Equal(t, []string{`cat "$HYDRA_JSON"`}, k.RunCommand[0].Get("command"))
	assert.True(t, k.DynamicRunCommand)
	assert.True(t, k.EmailNotification)
	assert.Equal(t, "hydra@example.org", k.NotificationSender)
	assert.Equal(t, "https://logs.example.org/", k.LogPrefix)
	require.NotNil(t, k.GitInput)
	assert.Len(t, k.GithubStatus, 1)
	assert.Equal(t, hydraconf.Secret("token-2"), k.Authorization["gitea_authorization"]["alice"])
	assert.Equal(t, "(secret)", fmt.Sprint(k.Authorization["gitea_authorization"]["alice"]))
	assert.NotContains(t, fmt.Sprintf("%v", k.Authorization), "token-2")
	require.NotNil(t, k.LDAP)
	assert.True(t, c.HasSecrets)
	assert.Empty(t, c.Settings)
}

func TestInterpretSecretsFlagged(t *testing.T) {
	for _, text := range []string{
		"<ldap>\n<config>\nbindpw = x\n</config>\n</ldap>",
		"<github_authorization>\nowner = token\n</github_authorization>",
		"<githubstatus>\nauthorization = t\n</githubstatus>",
		"github_client_secret = s",
		"<webhooks>\n<github>\nsecret = s\n</github>\n</webhooks>",
	} {
		c, err := hydraconf.Interpret(parse(t, text))
		require.NoError(t, err)
		assert.True(t, c.HasSecrets, text)
	}
}

func TestInterpretUnknownAndIgnored(t *testing.T) {
	c, err := hydraconf.Interpret(parse(t, "max_log_sise = 1\ntracker = <script>\n<mystery>\n</mystery>\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"max_log_sise (/etc/hydra/hydra.conf:1)", "mystery (/etc/hydra/hydra.conf:3)"}, c.Unknown)
	require.Len(t, c.Ignored, 1)
	assert.Equal(t, "tracker", c.Ignored[0].Key)
	assert.NotEmpty(t, c.Ignored[0].Why)
}

func TestInterpretBadValues(t *testing.T) {
	for _, text := range []string{
		"max_log_size = lots",
		"max_db_connections = 0",
		"evaluator_workers = -1",
		"use-substitutes = maybe",
		"email_notification = sometimes",
		"<max_log_size>\n</max_log_size>",
		"ldap = x",
		"<store_uri>\n</store_uri>",
		"store_uri = ::",
	} {
		_, err := hydraconf.Interpret(parse(t, text))
		assert.Error(t, err, text)
	}
}
