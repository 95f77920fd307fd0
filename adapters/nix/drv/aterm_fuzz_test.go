package drv

import (
	"bytes"
	"strings"
	"testing"

	"github.com/nix-community/go-nix/pkg/derivation"
	"github.com/stretchr/testify/require"
)

// FuzzATerm: whatever a client sends as a derivation's platform,
// builder, arguments and environment, ATerm either refuses it or renders
// contents that read back as the same derivation, under the path
// ATerm gave, so a derivation cannot be checked under one reading and
// built under another.
func FuzzATerm(f *testing.F) {
	f.Add("x86_64-linux", "/nix/store/"+strings.Repeat("a", 32)+"-busybox/busybox", "sh", "-c\necho \"hi\" > $out\\", "note", "x\ty")
	f.Add("", "", "", "", "", "")
	f.Add("a\"b", "b\\", "\r", "\\n", "k\"ey", "\\\"")
	f.Fuzz(func(t *testing.T, system, builder, arg1, arg2, key, value string) {
		out := "/nix/store/" + strings.Repeat("b", 32) + "-fuzz"
		d := &Derivation{Outputs: map[string]string{"out": out}, System: system, Builder: builder, Args: []string{arg1, arg2},
			Env: map[string]string{"name": "fuzz", "out": out, key: value}, InputDrvs: map[string][]string{}}
		aterm, p, err := d.ATerm()
		if err != nil {
			return
		}
		g, err := derivation.ReadDerivation(bytes.NewReader(aterm))
		require.NoError(t, err, "%q", aterm)
		back := fromGoNix(p, g)
		require.Equal(t, d.System, back.System)
		require.Equal(t, d.Builder, back.Builder)
		require.Equal(t, d.Args, back.Args)
		require.Equal(t, d.Env, back.Env)
		require.Equal(t, d.Outputs, back.Outputs)
		again, p2, err := back.ATerm()
		require.NoError(t, err)
		require.Equal(t, aterm, again)
		require.Equal(t, p, p2)
	})
}
