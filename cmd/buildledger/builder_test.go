package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
)

// TestLocalMachineTakesNixFeatures follows Hydra's default-machine-file.t:
// the localhost builder that up registers has the system-features (and the
// system and extra-platforms) of the local Nix.
func TestLocalMachineTakesNixFeatures(t *testing.T) {
	if _, err := os.Stat("/nix/store"); err != nil {
		t.Skip("no Nix")
	}
	conf := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(conf, "nix.conf"),
		[]byte("system-features = test-system-feature\nextra-platforms = i686-linux\n"), 0o644))
	t.Setenv("NIX_CONF_DIR", conf)

	ctx := context.Background()
	url := pgtest.URL(t)
	sys, err := openSystem(ctx, config{home: t.TempDir(), databaseURL: url}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.NoError(t, sys.ensureLocalMachine(ctx))
	sys.Close()

	var out, errb bytes.Buffer
	require.Equal(t, 0, newApp(&out, &errb).main(ctx, []string{"machine", "list", "--database-url", url}), errb.String())
	var line []string
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "localhost" {
			line = f
		}
	}
	require.Len(t, line, 7, out.String())
	require.ElementsMatch(t, []string{hostSystem(), "i686-linux", "builtin"}, strings.Split(line[2], ","))
	require.Equal(t, "test-system-feature", line[5], "Nix's system-features, no more")
}

// TestLocalMachineUnderNixDefaults: with Nix's compiled-in settings (an
// empty NIX_CONF_DIR), whose extra-platforms on x86_64 name levels such as
// x86_64-v3-linux, up registers its localhost builder.
func TestLocalMachineUnderNixDefaults(t *testing.T) {
	if _, err := os.Stat("/nix/store"); err != nil {
		t.Skip("no Nix")
	}
	t.Setenv("NIX_CONF_DIR", t.TempDir())
	ctx := context.Background()
	sys, err := openSystem(ctx, config{home: t.TempDir(), databaseURL: pgtest.URL(t)}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	defer sys.Close()
	require.NoError(t, sys.ensureLocalMachine(ctx))
}

func TestParseNixConfig(t *testing.T) {
	tests := []struct {
		name, in string
		want     nixConfig
		err      string
	}{
		{name: "all", in: `{"system":{"value":"x86_64-linux"},"extra-platforms":{"value":["i686-linux"]},"system-features":{"value":["kvm","big-parallel"]}}`,
			want: nixConfig{System: "x86_64-linux", ExtraPlatforms: []string{"i686-linux"}, Features: []string{"kvm", "big-parallel"}}},
		{name: "no features", in: `{"system":{"value":"aarch64-linux"}}`, want: nixConfig{System: "aarch64-linux"}},
		{name: "no system", in: `{}`, err: "names no system"},
		{name: "not json", in: `system = x`, err: "decode nix show-config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNixConfig([]byte(tt.in))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	require.Equal(t, []string{"x86_64-linux", "i686-linux", "builtin"},
		nixConfig{System: "x86_64-linux", ExtraPlatforms: []string{"i686-linux", "x86_64-linux", "builtin"}}.systems())
}
