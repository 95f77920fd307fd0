package news_test

import (
	"strings"
	"testing"

	"buildledger/domain/domainerr"
	"buildledger/domain/domaintest"
	"buildledger/domain/news"
	"buildledger/events"
)

func TestDecide(t *testing.T) {
	posted := news.Evolve(news.State{}, &events.NewsItemAdded{ID: 7, Contents: "x", Author: "admin"})
	removed := news.Evolve(posted, &events.NewsItemRemoved{ID: 7})
	domaintest.Decide(t, news.Decide, []domaintest.Case[news.State, news.Command]{
		{Name: "post", Cmd: news.Add{ID: 7, Contents: "  Maintenance on Sunday \n", Author: "admin", Time: 5},
			Want: []events.Payload{&events.NewsItemAdded{ID: 7, Contents: "Maintenance on Sunday", CreateTime: 5, Author: "admin"}}},
		{Name: "empty", Cmd: news.Add{ID: 7, Contents: " \n", Author: "admin"}, Err: domainerr.ErrInvalid, Field: "contents"},
		{Name: "too long", Cmd: news.Add{ID: 7, Contents: strings.Repeat("x", news.MaxContents+1), Author: "admin"}, Err: domainerr.ErrInvalid, Field: "contents"},
		{Name: "not UTF-8", Cmd: news.Add{ID: 7, Contents: "\xff", Author: "admin"}, Err: domainerr.ErrInvalid, Field: "contents"},
		{Name: "no author", Cmd: news.Add{ID: 7, Contents: "x"}, Err: domainerr.ErrInvalid, Field: "author"},
		{Name: "id taken", State: posted, Cmd: news.Add{ID: 7, Contents: "x", Author: "admin"}, Err: domainerr.ErrAlreadyExists},
		{Name: "remove", State: posted, Cmd: news.Remove{ID: 7}, Want: []events.Payload{&events.NewsItemRemoved{ID: 7}}},
		{Name: "remove twice", State: removed, Cmd: news.Remove{ID: 7}, Err: domainerr.ErrNotFound},
		{Name: "remove none", Cmd: news.Remove{ID: 8}, Err: domainerr.ErrNotFound},
	})
}
