// Package reactors is the home of the log's reactors: consumers of the
// event log that decide and act, writing back through commands or
// sending deliveries (a BuildStep to a builder worker, later a
// notification).
//
// A reactor differs from a projection (package projections) in three ways:
//
//   - A projection writes read-model tables and nothing else; a reactor
//     writes events through commands.Execute and talks to the outside
//     world.
//   - A projection is replayable: it must be a deterministic function of
//     the events, and a replay from position 0 rebuilds its tables. A
//     reactor must never repeat a side effect when it reads old events
//     again: each command it issues is checked against its stream's
//     revision, so a decision repeated after a crash is refused rather
//     than recorded twice, and a delivery is keyed by the event that
//     caused it.
//   - A projection's checkpoint is saved in the same transaction as its
//     writes. A reactor keeps its state in memory, rebuilt from the log at
//     start (or from a snapshot of it plus the log after it), because its
//     effects are recorded in the log itself.
//
// SnapshotStore keeps the latest snapshot of each reactor's state, a
// cache that spares a cold start the fold of the whole log.
//
// The reactors: scheduler, the queue runner's scheduler; outbox, the
// notification outbox that the notifiers forgestatus (commit statuses),
// email and webhook queue into; pgnotify, Hydra's NOTIFY channels.
package reactors
