package sqlproj

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzCompile checks that rewriting named parameters never panics, that
// every parameter gets a placeholder, and that text without a colon is
// left alone.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"select :a, :b::int, ':x' -- :y\n", "insert into t values (:a.b, :_position)", "a[1:2]", "::", ":", "'", "--", `"q:x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stmt string) {
		c := compile(stmt)
		for i := range c.params {
			if !strings.Contains(c.sql, fmt.Sprintf("$%d", i+1)) {
				t.Fatalf("%q: no placeholder for parameter %d (%s) in %q", stmt, i+1, c.params[i], c.sql)
			}
		}
		if !strings.Contains(stmt, ":") && c.sql != stmt {
			t.Fatalf("%q changed to %q without any parameter", stmt, c.sql)
		}
		for _, part := range splitStatements(stmt) {
			if strings.TrimSpace(part) == "" {
				t.Fatalf("%q: empty statement", stmt)
			}
		}
	})
}
