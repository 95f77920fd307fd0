// Package news is the news item aggregate, Hydra's NewsItems: its state,
// folded from a news-<id> stream, and the rules for posting and taking
// down an item.
package news

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// MaxContents is the longest item, in bytes: the front page shows every
// item whole.
const MaxContents = 16 << 10

// State is a news item as its stream tells it.
type State struct {
	Exists bool
	ID     int64
}

// Evolve folds one event of a news item's stream into s.
func Evolve(s State, p events.Payload) State {
	switch e := p.(type) {
	case *events.NewsItemAdded:
		return State{Exists: true, ID: e.ID}
	case *events.NewsItemRemoved:
		return State{ID: e.ID}
	}
	return s
}

// Command is Add or Remove.
type Command interface{ newsCommand() }

// Add posts an item: Contents (HTML in Hydra, shown as text here) by
// Author at Time (Unix seconds).
type Add struct {
	ID       int64
	Contents string
	Author   string
	Time     int64
}

// Remove takes an item down.
type Remove struct {
	ID int64
}

func (Add) newsCommand()    {}
func (Remove) newsCommand() {}

// Decide returns the events that carry out cmd on s, or an error wrapping
// domainerr.ErrInvalid, ErrAlreadyExists or ErrNotFound.
func Decide(s State, cmd Command) ([]events.Payload, error) {
	switch c := cmd.(type) {
	case Add:
		contents := strings.TrimSpace(c.Contents)
		switch {
		case contents == "":
			return nil, domainerr.Invalid("contents", "a news item needs contents")
		case len(contents) > MaxContents:
			return nil, domainerr.Invalid("contents", "a news item has at most %d bytes, this one %d", MaxContents, len(contents))
		case !utf8.ValidString(contents):
			return nil, domainerr.Invalid("contents", "a news item must be UTF-8")
		case c.Author == "":
			return nil, domainerr.Invalid("author", "a news item needs an author")
		case s.Exists:
			return nil, domainerr.AlreadyExists("news item", strconv.FormatInt(c.ID, 10))
		}
		return []events.Payload{&events.NewsItemAdded{ID: c.ID, Contents: contents, CreateTime: c.Time, Author: c.Author}}, nil
	case Remove:
		if !s.Exists {
			return nil, domainerr.NotFound("news item", strconv.FormatInt(c.ID, 10))
		}
		return []events.Payload{&events.NewsItemRemoved{ID: s.ID}}, nil
	}
	return nil, domainerr.Invalid("command", "unknown news command %T", cmd)
}
