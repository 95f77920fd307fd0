package builder

import (
	"maps"
	"slices"
	"strings"

	"buildledger/adapters/nix/drv"
)

// unescaped returns a copy of d with the ATerm escapes of its builder,
// arguments and environment undone.
//
// Workaround: drv.Read (go-nix's parser) returns these strings as they
// are written in the .drv file, with \n, \t, \r, \" and \\ still escaped,
// so a builder script with several lines would reach the machine as one
// line with literal "\n". TestDrvReaderKeepsEscapes fails once the reader
// unescapes itself; then this function must go.
func unescaped(d *drv.Derivation) *drv.Derivation {
	c := *d
	c.Builder = unescapeATerm(d.Builder)
	c.Args = make([]string, len(d.Args))
	for i, a := range d.Args {
		c.Args[i] = unescapeATerm(a)
	}
	c.Env = make(map[string]string, len(d.Env))
	for _, k := range slices.Sorted(maps.Keys(d.Env)) {
		c.Env[unescapeATerm(k)] = unescapeATerm(d.Env[k])
	}
	return &c
}

// unescapeATerm undoes the escaping of an ATerm string.
func unescapeATerm(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
