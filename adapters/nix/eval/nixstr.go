package eval

import (
	"regexp"
	"strings"
)

// nixString renders s as a double-quoted Nix string literal.
func nixString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '"':
			b.WriteString(`\"`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			b.WriteString(`\$`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// nixStringList renders ss as a Nix list of string literals.
func nixStringList(ss []string) string {
	var b strings.Builder
	b.WriteString("[")
	for _, s := range ss {
		b.WriteByte(' ')
		b.WriteString(nixString(s))
	}
	b.WriteString(" ]")
	return b.String()
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_'-]*$`)

var nixKeywords = map[string]bool{
	"if": true, "then": true, "else": true, "assert": true, "with": true,
	"let": true, "in": true, "rec": true, "inherit": true, "or": true,
}

// isNixIdentifier reports whether name can be used as a function argument
// name in Nix.
func isNixIdentifier(name string) bool {
	return identRE.MatchString(name) && !nixKeywords[name]
}
