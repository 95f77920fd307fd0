// Package esdb is the events.Store adapter for EventStoreDB and KurrentDB,
// through github.com/EventStore/EventStore-Client-Go/v4 (archived; the
// successor kurrent-io/KurrentDB-Client-Go has the same API, so the client
// stays behind this package).
//
// Connection strings are the client's: esdb://[user:pass@]host[:port][?k=v],
// esdb://h1:2113,h2:2113,h3:2113?… (gossip seeds) and esdb+discover://host.
// Open additionally rejects unknown settings and a malformed defaultDeadline
// (the client only warns or silently sets a zero deadline), and probes the
// server with a one-event read of $all within Options.ConnectTimeout, so a
// bad address, a TLS mismatch or wrong credentials fail at Open with an
// error naming the problem. The client sends credentials only over TLS:
// with tls=false, user:pass in the string is ignored by the client.
//
// How events are stored:
//   - EventID is our event id, so a retried append is idempotent on the
//     server (fully so with NoStream, StreamExists or an exact revision;
//     best effort with Any, as the server documents).
//   - EventType is our type, content type application/json, data our
//     JSON payload byte for byte.
//   - The event metadata is a JSON object: the fields of events.Metadata
//     (actor, correlationId, causationId, host, prevHash, hash), our schema
//     version as "schemaVersion", and "$correlationId"/"$causationId"
//     copies so the server's by-correlation projection works.
//   - With Options.Namespace set, stream s is stored as Namespace+s and
//     only streams of the namespace are visible through reads and
//     subscriptions; tests use it to share one real server.
//
// Positions are the server's (commit, prepare) pair, unchanged. Reads of
// $all and subscriptions skip system events ("$" streams or types) and,
// to be safe against the server's inclusive or exclusive start rules,
// every event at or before the position asked for.
//
// Appends larger than Options.MaxAppendSize (the server's limit, 1 MiB by
// default) fail with ErrAppendTooLarge unless Options.SplitLargeAppends is
// set. We refuse by default because an append is one decision of the
// ledger and must be atomic: split appends are written as consecutive
// appends with exact expected revisions, so readers can see a prefix and a
// failure can leave one; retrying the same call (same ids, same
// expectation) completes it idempotently.
//
// Subscriptions are catch-up subscriptions to $all with a server-side
// filter (stream prefixes when Filter.StreamPrefixes or a namespace is
// set, otherwise the exclude-system-events filter); event types are
// filtered client-side. The client has no auto-resubscribe: when a
// subscription drops, the adapter resubscribes from the last delivered
// position with exponential backoff, and drops anything at or before it,
// so nothing is lost or duplicated.
//
// The client closes itself when a discovery runs out of attempts, and any
// call waiting for a connection at that moment then blocks forever. So the
// store's client rediscovers without limit (only Open's probe uses the
// configured maxDiscoverAttempts); should it still close, the adapter makes
// a new one. The cost: while the server is unreachable, calls wait in the
// client's discovery, which ignores contexts, until the server is back.
//
// Known differences from the contract (events/storetest): EventStoreDB
// dedups event ids within a stream only, so an id already recorded in
// another stream is appended again; the Postgres log refuses it.
package esdb
