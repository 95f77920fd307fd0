// Package esdbtest is a PROTOCOL TEST DOUBLE of EventStoreDB. It is not an
// event store and must never be used outside tests.
//
// Server is an in-process gRPC server, listening on 127.0.0.1, that speaks
// the subset of EventStoreDB's gRPC protocol the esdb adapter uses. It is
// built on the EventStore-Client-Go module's own generated protos, so the
// real client library talks to it unmodified:
//
//   - ServerFeatures.GetSupportedMethods (what the client calls on connect).
//   - Gossip.Read, answering with this single node as leader, so cluster
//     connection strings (several hosts, esdb+discover://) work too.
//   - Streams.Append: options then proposed messages; expected revision
//     checks (any, no_stream, stream_exists, exact); idempotency by event
//     id following the server's rules; WrongExpectedVersion results; the
//     maximum append size (1 MiB by default).
//   - Streams.Read: a stream or $all, forwards or backwards, from a
//     revision or position, with a count; stream_not_found; and catch-up
//     subscriptions to $all (confirmation, history, caught_up, live events,
//     stream or event-type filters by prefix or regex, checkpoints).
//
// Every recorded event carries the "type", "content-type" and "created"
// metadata the client requires (the client kills the process without
// "created").
//
// The semantics are our reading of the server's source and documentation,
// not a conformance-tested copy. Where they matter:
//   - A batch's events share the commit position of its first event and
//     have increasing prepare positions; positions are byte-offset-like and
//     not contiguous.
//   - Reading $all forwards from a position includes the event at it;
//     backwards from a position excludes it; a subscription from a
//     position excludes it.
//   - Idempotency follows the server's CheckCommit: with any/stream_exists
//     a batch whose ids are all already in the same stream is a no-op, a
//     partial overlap is a wrong expected version; with an exact revision
//     or no_stream below the current revision, ids must match the events
//     after that revision. An id recorded in another stream does not
//     count, exactly as on the server.
//   - With credentials set, every Streams call needs them (Basic auth);
//     ServerFeatures and Gossip stay anonymous as on the server.
//
// Fault injection: DropSubscriptions, RefuseConnections, SetCredentials,
// and AppendSystemEvent to put "$" system events into the log.
package esdbtest
