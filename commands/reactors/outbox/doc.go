// Package outbox is the delivery side of the reactors that talk to the
// outside world (#22): commit statuses, mail, webhooks.
//
// A notifier is a Reactor run by a Follower: it reads the log from its own
// checkpoint and, for an event it cares about, calls Outbox.Queue, which
// keeps the request (the payload, with no secret in it) in the Store and
// records NotificationQueued{key, plugin, channel, target, digest} in
// notification-<key>. The key comes from the causing event, the plugin and
// the target (notification.Key), so reading an event again queues nothing
// new, and the checkpoint can be saved after the events it covers: a crash
// before the save repeats decisions the log already holds.
//
// The Worker claims due payloads from the Store, loads the notification's
// stream, skips (and forgets) a settled one, checks the digest, sends it
// through the plugin's Sender, and records NotificationDelivered or
// NotificationFailed{attempt, error, retryAt} with Hydra's TaskRetries
// backoff (2^min(attempt,10) seconds, giving up after 100 attempts). The
// log, not the Store, says whether a notification was delivered: an
// attempt is recorded at the stream's revision, so two workers cannot both
// record one. A crash between a send and its record sends it once more on
// restart; every Sender passes the key where the receiver takes one
// (Message-ID, a delivery header) so that the duplicate can be told apart.
//
// Nothing here runs during a replay: replays rebuild read models
// (projections), and notifiers are not projections. A notifier started
// for the first time (no checkpoint) starts at the log's head, as Hydra's
// hydra-notify hears only what happens while it listens.
package outbox
