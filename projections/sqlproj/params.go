package sqlproj

import (
	"encoding/json"
	"fmt"
	"strings"
)

// compiled is one SQL statement with its named parameters replaced by
// $1, $2, … in order of first use.
type compiled struct {
	sql    string
	params []string
}

// compile rewrites :name parameters (letters, digits, _ and . for nested
// JSON fields) to positional ones. Casts (::type), string literals,
// quoted identifiers and -- comments are left alone.
func compile(stmt string) compiled {
	var (
		b     strings.Builder
		c     compiled
		index = map[string]int{}
	)
	isStart := func(r byte) bool { return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
	isPart := func(r byte) bool { return isStart(r) || r >= '0' && r <= '9' || r == '.' }
	for i := 0; i < len(stmt); i++ {
		ch := stmt[i]
		switch {
		case ch == '\'' || ch == '"':
			j := i + 1
			for j < len(stmt) && stmt[j] != ch {
				j++
			}
			b.WriteString(stmt[i:min(j+1, len(stmt))])
			i = j
		case ch == '-' && i+1 < len(stmt) && stmt[i+1] == '-':
			j := strings.IndexByte(stmt[i:], '\n')
			if j < 0 {
				j = len(stmt) - i
			}
			b.WriteString(stmt[i : i+j])
			i += j - 1
		case ch == ':' && i+1 < len(stmt) && stmt[i+1] == ':':
			b.WriteString("::")
			i++
		case ch == ':' && i+1 < len(stmt) && isStart(stmt[i+1]):
			j := i + 1
			for j < len(stmt) && isPart(stmt[j]) {
				j++
			}
			name := strings.TrimRight(stmt[i+1:j], ".")
			n, ok := index[name]
			if !ok {
				c.params = append(c.params, name)
				n = len(c.params)
				index[name] = n
			}
			fmt.Fprintf(&b, "$%d", n)
			i = i + len(name)
		default:
			b.WriteByte(ch)
		}
	}
	c.sql = b.String()
	return c
}

// splitStatements cuts a script at semicolons outside quotes and
// comments, dropping empty statements.
func splitStatements(script string) []string {
	var (
		out   []string
		start int
	)
	for i := 0; i < len(script); i++ {
		switch ch := script[i]; {
		case ch == '\'' || ch == '"':
			j := i + 1
			for j < len(script) && script[j] != ch {
				j++
			}
			i = j
		case ch == '-' && i+1 < len(script) && script[i+1] == '-':
			j := strings.IndexByte(script[i:], '\n')
			if j < 0 {
				i = len(script)
			} else {
				i += j
			}
		case ch == ';':
			out = append(out, script[start:i])
			start = i + 1
		}
	}
	out = append(out, script[start:])
	kept := out[:0]
	for _, s := range out {
		if strings.TrimSpace(stripComments(s)) != "" {
			kept = append(kept, strings.TrimSpace(s))
		}
	}
	return kept
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// lookup finds a dotted path in decoded JSON and converts the value for
// Postgres: integers to int64, other numbers to float64, strings and
// booleans as they are, objects and arrays to their JSON text, and a
// missing field or null to nil (SQL NULL).
func lookup(doc map[string]any, path string) (any, error) {
	var cur any = doc
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, nil
		}
		cur = m[part]
	}
	switch v := cur.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i, nil
		}
		f, err := v.Float64()
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", path, err)
		}
		return f, nil
	case map[string]any, []any:
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", path, err)
		}
		return string(raw), nil
	}
	return cur, nil
}
