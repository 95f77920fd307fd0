// Package translog presents the event log as a Merkle transparency log in
// the C2SP formats, so that auditors check it with standard tools
// (golang.org/x/mod/sumdb/tlog and note) and no buildledger code:
//
//   - leaf i is the 32-byte hash of the event at position i+1, hashed as
//     an RFC 6962 leaf (tlog.RecordHash);
//   - Tree keeps the tree's stored hashes in commandstate.tlog_hashes,
//     brought up to the log's head by Sync (a follower: appends do not
//     wait for it), and serves hash tiles and entry bundles (C2SP
//     tlog-tiles, height 8);
//   - checkpoints are C2SP tlog-checkpoint signed notes (Ed25519), and
//     witnesses add C2SP tlog-cosignature/v1 lines;
//   - Client reads a log over HTTP and proves inclusion and consistency
//     from its tiles alone; Witness cosigns a log's checkpoints only after
//     proving each consistent with the last one it cosigned.
package translog
