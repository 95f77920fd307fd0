// Package pglog is the embedded default event store: an append-only log in
// PostgreSQL (schema "ledger", created by the ledger migrations).
//
// Guarantees:
//   - Per-stream optimistic concurrency: an append locks its stream row and
//     checks the expected revision; unique (stream, revision) backs it up.
//   - Idempotency: appending events whose ids are already recorded, at the
//     same place in the same stream, returns the original result.
//   - A gapless global position in commit order: every append takes the
//     single counter row as its last lock (UPDATE … SET position = position
//   - n RETURNING), held until commit, so position N+1 is never visible
//     before N. Subscribers read position > checkpoint with no gap logic.
//   - NOTIFY after each append wakes subscribers; polling is the fallback.
package pglog
