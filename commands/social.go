package commands

import (
	"context"
	"errors"
	"fmt"

	"buildledger/domain/domainerr"
	"buildledger/domain/ids"
	"buildledger/domain/names"
	"buildledger/domain/news"
	"buildledger/domain/streams"
	"buildledger/domain/user"
	"buildledger/events"
)

// NewsAggregate folds a news-<id> stream.
var NewsAggregate = Aggregate[news.State]{Name: "news item", Evolve: news.Evolve}

// AddNews posts a news item on the front page.
type AddNews struct {
	Contents string
	Author   string
}

// maxNewsIDTries bounds the ids AddNews tries: an id taken by a news item
// imported from Hydra is skipped.
const maxNewsIDTries = 100

// AddNews appends NewsItemAdded to news-<id>, id a fresh news id, and
// returns the id. Ids that imported items took are skipped.
func (h *Handlers) AddNews(ctx context.Context, md events.Metadata, c AddNews) (int64, Result, error) {
	if h.ids == nil {
		return 0, Result{}, errors.New("add news: no id allocator")
	}
	for range maxNewsIDTries {
		id, err := h.ids.Next(ctx, ids.KindNews, 1)
		if err != nil {
			return 0, Result{}, err
		}
		res, err := Execute(ctx, h.rt, streams.News(id), NewsAggregate, func(s news.State) ([]events.Payload, error) {
			return news.Decide(s, news.Add{ID: id, Contents: c.Contents, Author: c.Author, Time: h.rt.clock.Now().Unix()})
		}, md)
		if errors.Is(err, domainerr.ErrAlreadyExists) {
			continue
		}
		return id, res, err
	}
	return 0, Result{}, fmt.Errorf("add news: %d news ids in a row are taken", maxNewsIDTries)
}

// RemoveNews appends NewsItemRemoved to news-<id>.
func (h *Handlers) RemoveNews(ctx context.Context, md events.Metadata, id int64) (Result, error) {
	if id < 1 {
		return Result{}, domainerr.NotFound("news item", fmt.Sprint(id))
	}
	return Execute(ctx, h.rt, streams.News(id), NewsAggregate, func(s news.State) ([]events.Payload, error) {
		return news.Decide(s, news.Remove{ID: id})
	}, md)
}

// StarJob stars a job for a user, or takes the star back.
type StarJob struct {
	UserName, Project, Jobset, Job string
	On                             bool
}

// StarJob appends JobStarred or JobUnstarred to user-<name>, or nothing
// if the job is already as asked.
func (h *Handlers) StarJob(ctx context.Context, md events.Metadata, c StarJob) (Result, error) {
	if !names.User(c.UserName) {
		return Result{}, domainerr.NotFound("user", c.UserName)
	}
	return Execute(ctx, h.rt, streams.User(c.UserName), UserAggregate, func(s user.State) ([]events.Payload, error) {
		return user.Decide(s, user.Star(c))
	}, md)
}
