// Package ledger projects the read models Hydra lacks: the audit log of
// every event, the build graph of every evaluation, every derivation step
// and every attempt at it, the scheduler's decisions, and every NAR hash
// observed for an output (reproducibility evidence).
package ledger

import (
	"context"
	"unicode/utf8"

	"buildledger/domain/redact"
	"buildledger/events"
	"buildledger/projections"
)

// Projection writes the ledger's own read models.
type Projection struct{}

var _ projections.Projection = Projection{}

// Name implements projections.Projection.
func (Projection) Name() string { return "ledger" }

// Version implements projections.Projection.
func (Projection) Version() int { return 1 }

var _ projections.IndexDeferrer = Projection{}

// DeferrableIndexes implements projections.IndexDeferrer: the indexes
// the web reads by. The projection's own statements find their rows by
// the tables' keys, and a replay builds these once at the end instead of
// updating them for every row: with them gone, most of a step's updates
// change no indexed column and stay on their page (HOT).
func (Projection) DeferrableIndexes() []string {
	return []string{"audit_log_stream", "audit_log_actor", "steps_unfinished", "step_attempts_build", "step_attempts_machine",
		"step_attempts_busy", "scheduling_decisions_drv", "scheduling_decisions_machine", "output_observations_drv",
		"build_graph_edges_input_drv"}
}

// maxSummary bounds the audit log's summary of an event's data.
const maxSummary = 300

// summary returns the audit log's summary of data, redacted as every
// history view is (domain/redact: no old password hashes, no clear
// profiles, no credential-looking values): data itself, or its first
// maxSummary bytes or fewer, cut before a character rather than
// through one (text must be valid UTF-8), and an ellipsis. It is written
// as bytes, which spares a copy of every event's data into a string.
func summary(data []byte) []byte {
	data = redact.JSON(data)
	if len(data) <= maxSummary {
		return data
	}
	cut := maxSummary
	for cut > 0 && !utf8.RuneStart(data[cut]) {
		cut--
	}
	return append(data[:cut:cut], "…"...)
}

var auditColumns = []string{"position", "position_prepare", "event_id", "stream", "type", "actor", "correlation_id", "recorded_at", "summary"}

// Apply implements projections.Projection. The audit log takes every
// event, decodable or not, with one COPY per batch; the scheduler's
// decisions another. The other tables take their statements in rounds
// (see writes), a few statements a batch, sent together
// (projections.Pipeline).
func (Projection) Apply(ctx context.Context, db projections.Tx, batch []projections.Event) error {
	tx := projections.NewPipeline(db)
	rows := make([][]any, 0, len(batch))
	for _, ev := range batch {
		var id any = ev.ID
		if b, ok := events.ParseUUID(ev.ID); ok {
			id = b // written as it is (see ParseUUID)
		}
		rows = append(rows, []any{int64(ev.Position.Commit), int64(ev.Position.Prepare), id, ev.Stream, ev.Type,
			ev.Metadata.Actor, ev.Metadata.CorrelationID, ev.RecordedAt, summary(ev.Data)})
	}
	if err := tx.CopyFrom(ctx, "audit_log", auditColumns, rows); err != nil {
		return err
	}
	var w writes
	for _, ev := range batch {
		w.add(ev)
	}
	if err := w.flush(ctx, tx); err != nil {
		return err
	}
	return tx.Flush(ctx)
}
