package main

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// upFlags returns the flag set of up, as runUp registers it.
func upFlags(t *testing.T) (*flagState, *hydraConfFlag) {
	t.Helper()
	a := newApp(io.Discard, io.Discard)
	s := &flagState{}
	fs := a.newFlagSet("up", "up")
	s.cfg.register(fs, true)
	s.cfg.registerPool(fs)
	s.web.register(fs)
	s.ef.register(fs)
	fs.IntVar(&s.maxEvals, "max-concurrent-evals", 4, "")
	s.worker.register(fs)
	var hc hydraConfFlag
	hc.register(fs)
	s.fs = fs
	return s, &hc
}

type flagState struct {
	fs       *flag.FlagSet
	cfg      config
	web      webOptions
	ef       evalFlags
	worker   workerFlags
	maxEvals int
}

func writeConf(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hydra.conf")
	require.NoError(t, os.WriteFile(p, []byte(text), mode))
	return p
}

// TestHydraConfSetsFlags: hydra.conf's settings set up's flags, except
// those given on the command line; a key of another command's (the
// evaluator's --max-concurrent) passes in silence; unknown keys are named
// in one warning.
func TestHydraConfSetsFlags(t *testing.T) {
	conf := writeConf(t, `
max_output_size = 1000
max_log_size = 2000
max_db_connections = 7
evaluator_workers = 3
evaluator_max_memory_size = 1024
max_concurrent_evals = 5
base_uri = https://ci.example.org
use-substitutes = 1
allow_import_from_derivation = true
store_uri = file:///var/cache/hydra?compression=xz&write-nar-listing=1
binary_cache_secret_key_file = /etc/hydra/secret.key
max_log_sise = 1
<mystery>
</mystery>
tracker = <b>hi</b>
`, 0o600)
	s, hc := upFlags(t)
	require.NoError(t, s.fs.Parse([]string{"--hydra-conf", conf, "--eval-workers", "9"}))
	var logs bytes.Buffer
	require.NoError(t, hc.apply(s.fs, slog.New(slog.NewTextHandler(&logs, nil))))

	assert.Equal(t, int64(1000), s.worker.maxOutputSize)
	assert.Equal(t, int64(2000), s.worker.maxLogSize)
	assert.Equal(t, 7, s.cfg.maxDBConns)
	assert.Equal(t, 9, s.ef.workers, "the command line wins")
	assert.Equal(t, 1024, s.ef.maxMemoryMB)
	assert.Equal(t, 5, s.maxEvals)
	assert.Equal(t, "https://ci.example.org", s.web.baseURL)
	assert.True(t, s.worker.useSubstitutes)
	assert.True(t, s.ef.allowIFD)
	assert.Equal(t, "file:///var/cache/hydra?compression=xz", s.worker.url)
	assert.Equal(t, "/etc/hydra/secret.key", s.worker.keyFile)

	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, "unknown keys"), out)
	assert.Contains(t, out, "max_log_sise")
	assert.Contains(t, out, "mystery")
	assert.Contains(t, out, "tracker:")
	assert.Contains(t, out, `write-nar-listing`)
	assert.NotContains(t, out, "/etc/hydra/secret.key", "key file paths are not logged")
	assert.NotContains(t, out, "/var/cache/hydra", "store_uri is not logged")
}

// TestHydraConfSecrets: a file with tokens or passwords that others may
// read is warned about, and its secrets are never logged; at 0600 there
// is no warning.
func TestHydraConfSecrets(t *testing.T) {
	text := "<gitea_authorization>\nalice = tok-123\n</gitea_authorization>\n<ldap>\n<config>\nbindpw = pw-456\n</config>\n</ldap>\n"
	for _, tt := range []struct {
		mode os.FileMode
		warn bool
	}{{0o644, true}, {0o640, true}, {0o600, false}} {
		conf := writeConf(t, text, tt.mode)
		require.NoError(t, os.Chmod(conf, tt.mode))
		s, hc := upFlags(t)
		require.NoError(t, s.fs.Parse([]string{"--hydra-conf", conf}))
		var logs bytes.Buffer
		require.NoError(t, hc.apply(s.fs, slog.New(slog.NewTextHandler(&logs, nil))))
		out := logs.String()
		assert.Equal(t, tt.warn, strings.Contains(out, "chmod 600"), "mode %o: %s", tt.mode, out)
		assert.NotContains(t, out, "tok-123")
		assert.NotContains(t, out, "pw-456")
		assert.Contains(t, out, "<gitea_authorization>")
	}
}

// TestHydraConfBadFile: a broken file or a bad value stops the command
// with the place named.
func TestHydraConfBadFile(t *testing.T) {
	for text, want := range map[string]string{
		"<ldap>\n":            "<ldap> is never closed",
		"max_log_size = lots": "hydra.conf:1: max_log_size",
	} {
		s, hc := upFlags(t)
		require.NoError(t, s.fs.Parse([]string{"--hydra-conf", writeConf(t, text, 0o600)}))
		err := hc.apply(s.fs, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.Error(t, err)
		assert.Contains(t, err.Error(), want)
	}
}
