// Package schema holds the SQL migrations, embedded into the binary.
//
// Two sets exist. Ledger migrations (ledger/*.sql) create the event log in
// the Postgres schema "ledger" and are applied once per database.
// Read-model migrations (readmodel/*.sql) create Hydra's tables and the
// ledger's own read models; they never name a schema, so the runner can
// apply them to "public" (the live read models) or to a fresh schema that
// a replay fills and then swaps in. Vault migrations (vault/*.sql) create
// the command side's secrets outside the log and the read models, in the
// Postgres schema "vault", with the webhook deliveries already handled;
// replays never touch it. Command-state migrations (commandstate/*.sql)
// create the command side's other state outside the log (polling
// checks), in the Postgres schema "commandstate"; replays never touch it
// either.
package schema

import (
	"embed"
	"io/fs"
)

//go:embed ledger/*.sql readmodel/*.sql vault/*.sql commandstate/*.sql
var files embed.FS

// Ledger returns the event-log migrations, named NNNN_name.sql.
func Ledger() fs.FS { return sub("ledger") }

// ReadModel returns the read-model migrations, named NNNN_name.sql.
func ReadModel() fs.FS { return sub("readmodel") }

// Vault returns the migrations of the command side's secrets, named
// NNNN_name.sql.
func Vault() fs.FS { return sub("vault") }

// CommandState returns the migrations of the command side's state outside
// the log, named NNNN_name.sql.
func CommandState() fs.FS { return sub("commandstate") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // dir is a constant embedded above
	}
	return f
}
