package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// NotificationHistory reads the notification outbox's read models
// (projections/notifications): what was queued for a build or a jobset,
// and every delivery attempt.
type NotificationHistory interface {
	BuildNotifications(ctx context.Context, buildID int64) ([]Notification, error)
	JobsetNotifications(ctx context.Context, project, jobset string, p Page) ([]Notification, error)
}

// Notification is one queued notification with its attempts.
type Notification struct {
	Key      string                `json:"key"`
	Plugin   string                `json:"plugin"`
	Channel  string                `json:"channel"`
	Target   string                `json:"target"`
	BuildID  int64                 `json:"build,omitempty"`
	QueuedAt int64                 `json:"queuedAt"`
	State    string                `json:"state"`
	Attempts []NotificationAttempt `json:"attempts"`
}

// NotificationAttempt is one delivery attempt.
type NotificationAttempt struct {
	Attempt   int    `json:"attempt"`
	At        int64  `json:"at"`
	Delivered bool   `json:"delivered"`
	Detail    string `json:"detail"`
	RetryAt   int64  `json:"retryAt,omitempty"`
}

// notificationsPage is notifications.html.
type notificationsPage struct {
	page
	Title, Back   string
	Notifications []Notification
	ShowBuild     bool
}

func (s *server) notificationsRoutes(r chi.Router) {
	r.Get("/build/{id}/notifications", s.h(s.buildNotifications))
	r.Get("/jobset/{project}/{jobset}/notifications", s.h(s.jobsetNotifications))
}

// buildNotifications is the Notifications tab of a build: every status,
// mail and webhook queued for it, with each attempt.
func (s *server) buildNotifications(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	var ns []Notification
	if s.cfg.Notifications != nil {
		if ns, err = s.cfg.Notifications.BuildNotifications(r.Context(), b.ID); err != nil {
			return err
		}
	}
	id := strconv.FormatInt(b.ID, 10)
	s.respond(w, r, ns, "notifications", &notificationsPage{Title: "Notifications of build " + id, Back: "/build/" + id, Notifications: ns})
	return nil
}

// jobsetNotifications is the Notifications tab of a jobset, newest first.
func (s *server) jobsetNotifications(w http.ResponseWriter, r *http.Request) error {
	pname, jname := chi.URLParam(r, "project"), chi.URLParam(r, "jobset")
	if _, err := s.cfg.Queries.Jobset(r.Context(), pname, jname); err != nil {
		return err
	}
	var ns []Notification
	if s.cfg.Notifications != nil {
		var err error
		if ns, err = s.cfg.Notifications.JobsetNotifications(r.Context(), pname, jname, Page{Limit: 200}); err != nil {
			return err
		}
	}
	s.respond(w, r, ns, "notifications", &notificationsPage{Title: "Notifications of jobset " + pname + ":" + jname,
		Back: "/jobset/" + pname + "/" + jname, Notifications: ns, ShowBuild: true})
	return nil
}
