package builder

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/drv"
)

func TestUnescapeATerm(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		``:                 ``,
		`plain`:            `plain`,
		`a\nb`:             "a\nb",
		`tab\there\r`:      "tab\there\r",
		`q\"x\" back\\sl`:  `q"x" back\sl`,
		`trailing\`:        `trailing\`,
		`\\n is not a nl`:  `\n is not a nl`,
		`other \$ escapes`: `other $ escapes`,
	} {
		require.Equal(t, want, unescapeATerm(in), in)
	}
}

// TestDrvReaderKeepsEscapes pins the behaviour unescaped works around: if
// it fails, drv.Read unescapes by itself and unescaped must be removed.
func TestDrvReaderKeepsEscapes(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Skip("nix not installed")
	}
	store := t.TempDir()
	out, err := exec.Command("nix-instantiate", "--store", store, "--expr",
		`derivation { name = "esc"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo a\necho \"b\"" ]; }`).Output()
	require.NoError(t, err)
	d, err := drv.NewReader(store).Read(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	require.Equal(t, `echo a\necho \"b\"`, d.Args[1], "drv.Read returns escaped strings")
	require.Equal(t, "echo a\necho \"b\"", unescaped(d).Args[1])
}
