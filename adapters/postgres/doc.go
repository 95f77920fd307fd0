// Package postgres runs and connects to PostgreSQL: a private cluster of
// the project's own (initdb + pg_ctl in a data directory), connection
// pools, the migration runner, and the transaction helper every Postgres
// adapter uses.
package postgres
