// Package projections turns the event log into read models.
//
// A Projection receives batches of decoded events and writes them through
// a Tx, the read-model database port. The Runner feeds every registered
// projection from its own checkpoint: each batch is applied in one
// transaction that also advances the checkpoints, so a crash anywhere
// restarts from the last committed batch and no event takes effect twice.
//
// Projections never call out: no network, no files, no clock. Everything
// they write comes from the events.
//
// Every package directly under projections provides projections (a test
// keeps it so). A consumer of the log that decides and acts, writing back
// through commands, is a reactor and lives in commands/reactors.
package projections
