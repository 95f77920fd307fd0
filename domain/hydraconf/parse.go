package hydraconf

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Block is a section of the file: the top level, or a <name [arg]>
// block. Entries keep the file's order; a key may repeat.
type Block struct {
	Entries []Entry
}

// Entry is one "key = value" line or one block.
type Entry struct {
	Key string
	// Value is the value of a key, with surrounding quotes removed.
	Value string
	// Block is set for a <Key [Arg]> section; Arg is the word after the
	// key in its opening tag (<github_authorization> has none,
	// <https://example.org/repo.git> inside <git-input> is a key alone).
	Block *Block
	Arg   string
	// Where is "file:line" of the entry, for messages.
	Where string
}

// Get returns the values of key at this level, in order.
func (b *Block) Get(key string) []string {
	var out []string
	for _, e := range b.Entries {
		if e.Key == key && e.Block == nil {
			out = append(out, e.Value)
		}
	}
	return out
}

// Blocks returns the sections named key at this level, in order.
func (b *Block) Blocks(key string) []*Block {
	var out []*Block
	for _, e := range b.Entries {
		if e.Key == key && e.Block != nil {
			out = append(out, e.Block)
		}
	}
	return out
}

// ReadFile returns a file's contents; Parse takes it so that parsing stays
// free of the file system (tests pass a map).
type ReadFile func(name string) ([]byte, error)

// maxIncludeDepth stops an include cycle (Hydra lets a file be included
// again, so a cycle is not refused by name).
const maxIncludeDepth = 16

// maxLines bounds the lines read across all included files.
const maxLines = 1 << 20

// ErrSyntax is wrapped by every error about the file's text.
var ErrSyntax = errors.New("hydra.conf syntax")

// Parse reads the Config::General file name, as Hydra does: "key = value"
// or "key value" lines, <name [arg]> … </name> sections (nested), '#'
// comments ("\#" is a literal '#'), /* … */ comment lines, a trailing '\'
// continuing a line, "key <<END" here-documents, and "include FILE"
// (relative to the including file; Apache's spelling, which Hydra
// enables).
func Parse(name string, read ReadFile) (*Block, error) {
	p := &parser{read: read}
	root := &Block{}
	if err := p.file(name, root, nil, 0); err != nil {
		return nil, err
	}
	if len(p.open) > 0 {
		o := p.open[len(p.open)-1]
		return nil, fmt.Errorf("%w: %s: <%s> is never closed", ErrSyntax, o.where, o.key)
	}
	return root, nil
}

type parser struct {
	read  ReadFile
	lines int
	// open are the sections opened and not yet closed, innermost last.
	open []openBlock
}

type openBlock struct {
	key, where string
	block      *Block
}

// current is the block new entries go to.
func (p *parser) current(root *Block) *Block {
	if len(p.open) == 0 {
		return root
	}
	return p.open[len(p.open)-1].block
}

func (p *parser) file(name string, root *Block, from *string, depth int) error {
	if depth > maxIncludeDepth {
		return fmt.Errorf("%w: %s: includes nest deeper than %d (a cycle?)", ErrSyntax, *from, maxIncludeDepth)
	}
	data, err := p.read(name)
	if err != nil {
		if from != nil {
			return fmt.Errorf("%s: include: %w", *from, err)
		}
		return err
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	inComment := false
	for i := 0; i < len(lines); i++ {
		if p.lines++; p.lines > maxLines {
			return fmt.Errorf("%w: more than %d lines", ErrSyntax, maxLines)
		}
		where := fmt.Sprintf("%s:%d", name, i+1)
		line := strings.TrimSpace(lines[i])
		if inComment {
			if _, after, ok := strings.Cut(line, "*/"); ok {
				inComment = false
				line = strings.TrimSpace(after)
			} else {
				continue
			}
		}
		if strings.HasPrefix(line, "/*") {
			if _, after, ok := strings.Cut(line[2:], "*/"); ok {
				line = strings.TrimSpace(after)
			} else {
				inComment = true
				continue
			}
		}
		line = stripComment(line)
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + stripComment(strings.TrimSpace(lines[i]))
		}
		if line == "" {
			continue
		}
		switch {
		case strings.HasPrefix(line, "</"):
			if err := p.close(line, where); err != nil {
				return err
			}
		case strings.HasPrefix(line, "<") && !strings.HasPrefix(line, "<<"):
			if err := p.openTag(line, where, root); err != nil {
				return err
			}
		default:
			key, value, herdoc, err := splitLine(line, where)
			if err != nil {
				return err
			}
			if herdoc != "" {
				var body []string
				for i++; ; i++ {
					if i >= len(lines) {
						return fmt.Errorf("%w: %s: here-document %s is never ended", ErrSyntax, where, herdoc)
					}
					if strings.TrimSpace(lines[i]) == herdoc {
						break
					}
					body = append(body, lines[i])
				}
				value = strings.Join(body, "\n")
			}
			if strings.EqualFold(key, "include") && herdoc == "" {
				inc := value
				if !path.IsAbs(inc) {
					inc = path.Join(path.Dir(name), inc)
				}
				if err := p.file(inc, root, &where, depth+1); err != nil {
					return err
				}
				continue
			}
			b := p.current(root)
			b.Entries = append(b.Entries, Entry{Key: key, Value: value, Where: where})
		}
	}
	if inComment {
		return fmt.Errorf("%w: %s: a /* comment is never closed", ErrSyntax, name)
	}
	return nil
}

// stripComment removes a '#' comment, keeping an escaped "\#" as '#'.
func stripComment(line string) string {
	var b strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '#':
			b.WriteByte('#')
			i++
		case line[i] == '#':
			return strings.TrimSpace(b.String())
		default:
			b.WriteByte(line[i])
		}
	}
	return strings.TrimSpace(b.String())
}

func (p *parser) openTag(line, where string, root *Block) error {
	inner, ok := strings.CutSuffix(line, ">")
	if !ok {
		return fmt.Errorf("%w: %s: %q: a section tag ends with '>'", ErrSyntax, where, line)
	}
	inner = strings.TrimSpace(inner[1:])
	selfClosing := false
	if s, ok := strings.CutSuffix(inner, "/"); ok {
		inner, selfClosing = strings.TrimSpace(s), true
	}
	key, arg, _ := strings.Cut(inner, " ")
	if key == "" {
		return fmt.Errorf("%w: %s: a section without a name", ErrSyntax, where)
	}
	b := &Block{}
	parent := p.current(root)
	parent.Entries = append(parent.Entries, Entry{Key: key, Arg: unquote(strings.TrimSpace(arg)), Block: b, Where: where})
	if !selfClosing {
		p.open = append(p.open, openBlock{key: key, where: where, block: b})
	}
	return nil
}

func (p *parser) close(line, where string) error {
	key, ok := strings.CutSuffix(strings.TrimSpace(line[2:]), ">")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("%w: %s: %q: want </name>", ErrSyntax, where, line)
	}
	if len(p.open) == 0 {
		return fmt.Errorf("%w: %s: </%s> closes no section", ErrSyntax, where, key)
	}
	o := p.open[len(p.open)-1]
	if o.key != key {
		return fmt.Errorf("%w: %s: </%s> closes <%s> of %s", ErrSyntax, where, key, o.key, o.where)
	}
	p.open = p.open[:len(p.open)-1]
	return nil
}

// splitLine splits "key = value", "key value" or "key <<END".
func splitLine(line, where string) (key, value, heredoc string, err error) {
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return line, "", "", nil
	}
	key = line[:i]
	rest := strings.TrimLeft(line[i:], " \t")
	if r, ok := strings.CutPrefix(rest, "="); ok {
		rest = strings.TrimLeft(r, " \t")
	}
	if key == "" {
		return "", "", "", fmt.Errorf("%w: %s: %q has no key", ErrSyntax, where, line)
	}
	if h, ok := strings.CutPrefix(rest, "<<"); ok {
		h = strings.TrimSpace(h)
		if h == "" || strings.ContainsAny(h, " \t") {
			return "", "", "", fmt.Errorf("%w: %s: here-document marker %q", ErrSyntax, where, h)
		}
		return key, "", h, nil
	}
	return key, unquote(rest), "", nil
}

// unquote removes one pair of surrounding double quotes.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
