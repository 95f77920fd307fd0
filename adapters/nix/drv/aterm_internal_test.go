package drv

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"buildledger/adapters/nix/nixtest"
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

// TestReadUnescapes: a builder script of several lines with quotes, and
// environment values with backslashes (a JSON document written by
// builtins.toJSON, say), read back as written in Nix, neither escaped as
// in the .drv file nor unescaped twice.
func TestReadUnescapes(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("nix-instantiate"); err != nil {
		t.Skip("nix not installed")
	}
	store := t.TempDir()
	out, err := exec.Command("nix-instantiate", "--store", store, "--expr",
		`derivation { name = "esc"; system = "x86_64-linux"; builder = "`+nixtest.Sh+`"; args = [ "sh" "-c" "echo a\necho \"b\"" ]; note = "x\ty"; `+
			`json = builtins.toJSON { v = "say \"hi\"\n"; }; path = "C:\\n"; }`).Output()
	require.NoError(t, err)
	d, err := NewReader(store).Read(strings.TrimSpace(string(out)))
	require.NoError(t, err)
	require.Equal(t, "echo a\necho \"b\"", d.Args[2])
	require.Equal(t, "x\ty", d.Env["note"])
	require.Equal(t, `{"v":"say \"hi\"\n"}`, d.Env["json"])
	require.Equal(t, `C:\n`, d.Env["path"])
}
