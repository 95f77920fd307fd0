// Package notification is the notification aggregate, the outbox of the
// reactors that talk to the outside world (#22): its state, folded from a
// notification-<key> stream, the rules for queueing one and recording its
// delivery attempts, and Hydra's TaskRetries backoff.
package notification

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"buildledger/domain/domainerr"
	"buildledger/events"
)

// MaxAttempts is how many failed attempts make the worker give up, as
// Hydra's hydra-notify drops a task after 100.
const MaxAttempts = 100

// Backoff is Hydra's exponential_backoff: the seconds to wait after the
// attempt-th failed attempt, 2^min(attempt, 10).
func Backoff(attempt int) int64 {
	return int64(1) << min(max(attempt, 0), 10)
}

// Key is the idempotency key of the notification that plugin sends to
// target because of the event cause: the same cause, plugin and target
// always give the same key, so a reactor that reads an event again queues
// nothing new.
func Key(cause, plugin, target string) string {
	h := sha256.Sum256([]byte(cause + "\x00" + plugin + "\x00" + target))
	return hex.EncodeToString(h[:16])
}

// Digest is the SHA-256 of a payload, as NotificationQueued names it.
func Digest(payload []byte) string {
	h := sha256.Sum256(payload)
	return hex.EncodeToString(h[:])
}

// State is a notification as its stream tells it.
type State struct {
	Queued    bool
	Key       string
	Plugin    string
	Digest    string
	Attempts  int
	Delivered bool
	// GaveUp is set once an attempt failed with no retry.
	GaveUp bool
	// RetryAt is when the next attempt is due (Unix seconds).
	RetryAt int64
}

// Settled reports a notification nothing more will be tried for.
func (s State) Settled() bool { return s.Delivered || s.GaveUp }

// Evolve folds one event of a notification's stream into s.
func Evolve(s State, p events.Payload) State {
	switch e := p.(type) {
	case *events.NotificationQueued:
		return State{Queued: true, Key: e.Key, Plugin: e.Plugin, Digest: e.Digest, RetryAt: e.QueuedAt}
	case *events.NotificationDelivered:
		s.Attempts, s.Delivered = e.Attempt, true
	case *events.NotificationFailed:
		s.Attempts, s.RetryAt = e.Attempt, e.RetryAt
		s.GaveUp = e.RetryAt == 0
	}
	return s
}

// Command is Queue, Deliver or Fail.
type Command interface{ notificationCommand() }

// Queue records a notification to send.
type Queue struct{ events.NotificationQueued }

// Deliver records that attempt delivered it.
type Deliver struct {
	Attempt  int
	Response string
	Now      int64
}

// Fail records that attempt failed with err.
type Fail struct {
	Attempt int
	Error   string
	Now     int64
}

func (Queue) notificationCommand()   {}
func (Deliver) notificationCommand() {}
func (Fail) notificationCommand()    {}

// maxError bounds the error text an attempt records.
const maxError = 500

// Decide returns the events that carry out cmd on s. Queueing a
// notification already queued decides nothing (a reactor read its cause
// again); recording an attempt other than the next one, or on a settled
// notification, is a conflict, so two workers cannot both record one.
func Decide(s State, cmd Command) ([]events.Payload, error) {
	switch c := cmd.(type) {
	case Queue:
		switch {
		case s.Queued:
			return nil, nil
		case c.Key == "" || c.Plugin == "" || c.Digest == "" || c.Cause == "":
			return nil, domainerr.Invalid("notification", "a notification needs a key, a plugin, a digest and a cause")
		}
		q := c.NotificationQueued
		return []events.Payload{&q}, nil
	case Deliver:
		if err := nextAttempt(s, c.Attempt); err != nil {
			return nil, err
		}
		return []events.Payload{&events.NotificationDelivered{Key: s.Key, Attempt: c.Attempt, Response: c.Response, DeliveredAt: c.Now}}, nil
	case Fail:
		if err := nextAttempt(s, c.Attempt); err != nil {
			return nil, err
		}
		retry := c.Now + Backoff(c.Attempt)
		if c.Attempt >= MaxAttempts {
			retry = 0
		}
		msg := c.Error
		if len(msg) > maxError {
			msg = msg[:maxError]
		}
		msg = strings.ToValidUTF8(msg, "?")
		return []events.Payload{&events.NotificationFailed{Key: s.Key, Attempt: c.Attempt, Error: msg, RetryAt: retry, FailedAt: c.Now}}, nil
	}
	return nil, domainerr.Invalid("notification", "unknown command")
}

func nextAttempt(s State, attempt int) error {
	switch {
	case !s.Queued:
		return domainerr.NotFound("notification", s.Key)
	case s.Settled():
		return domainerr.Conflict("notification %s is settled", s.Key)
	case attempt != s.Attempts+1:
		return domainerr.Conflict("notification %s: attempt %d recorded, not %d", s.Key, s.Attempts, attempt-1)
	}
	return nil
}
