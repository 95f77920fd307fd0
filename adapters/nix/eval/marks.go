package eval

import (
	"encoding/json"
	"strings"
)

const markPrefix = "trace: bl-walk:"

// traceReport is what walker.nix's trace marks tell about a walk that died.
type traceReport struct {
	// Finished are the records completed before the failure.
	Finished []walkerRecord
	// Last is the attribute path marked last (nil when none was).
	Last []string
	// Msg is Nix's stderr without the marks.
	Msg string
}

// splitMarks separates walker.nix's trace marks from the rest of Nix's
// stderr.
func splitMarks(stderr string) traceReport {
	var rep traceReport
	var rest []string
	for _, l := range strings.Split(stderr, "\n") {
		m, ok := strings.CutPrefix(l, markPrefix)
		if !ok {
			rest = append(rest, l)
			continue
		}
		tag, js, _ := strings.Cut(m, ":")
		switch tag {
		case "k", "j":
			var p []string
			if json.Unmarshal([]byte(js), &p) == nil {
				if p == nil {
					p = []string{}
				}
				rep.Last = p
			}
		case "r":
			var wr walkerRecord
			if json.Unmarshal([]byte(js), &wr) == nil {
				rep.Finished = append(rep.Finished, wr)
			}
		}
	}
	rep.Msg = strings.TrimSpace(strings.Join(rest, "\n"))
	return rep
}

// skipTree is a set of attribute paths as nested maps; a nil map marks a
// skipped path.
type skipTree map[string]skipTree

func (t skipTree) add(p []string) {
	node := t
	for i, n := range p {
		child, ok := node[n]
		if ok && child == nil {
			return // an ancestor is skipped already
		}
		if i == len(p)-1 {
			node[n] = nil
			return
		}
		if !ok {
			child = skipTree{}
			node[n] = child
		}
		node = child
	}
}

func (t skipTree) has(p []string) bool {
	node := t
	for _, n := range p {
		child, ok := node[n]
		if !ok {
			return false
		}
		if child == nil {
			return true
		}
		node = child
	}
	return false
}

// nix renders the tree as a Nix attribute set with true leaves.
func (t skipTree) nix() string {
	var b strings.Builder
	t.write(&b)
	return b.String()
}

func (t skipTree) write(b *strings.Builder) {
	b.WriteString("{")
	for n, child := range t {
		b.WriteString(" " + nixString(n) + " = ")
		if child == nil {
			b.WriteString("true")
		} else {
			child.write(b)
		}
		b.WriteString(";")
	}
	b.WriteString(" }")
}
