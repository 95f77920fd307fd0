// Package hydraimport reads a NixOS Hydra database (schema version 87)
// and appends its history to the ledger as events, so that buildledger
// takes over a Hydra installation with its past.
//
// Every imported event carries its origin in its metadata (importedFrom
// "hydra", source "<table>:<key>", occurredAt from Hydra's own
// timestamps), which the hash chain covers. Its id is derived from that
// origin (events.NameID), and a batch leaves out the ids the log already
// holds, so a second run appends nothing and a run killed midway finishes
// on restart without duplicates. Users go through the command side
// (commands.Handlers.CreateUser), which keeps Hydra's password hashes in
// the vault, never in an event. Builds are read in chunks of ids, with
// their outputs, steps, step outputs, products and metrics, and appended
// in large multi-stream batches through the event store.
package hydraimport
