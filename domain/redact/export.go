package redact

import (
	"encoding/json"
	"time"

	"buildledger/events"
)

// ExportRow is one event as exports and the transparency log's event
// route show it: the envelope flattened, the data as JSON text as
// recorded but redacted (JSON: no old password hashes, clear profiles or
// credential-looking values; the hashes of a redacted event no longer
// match its data), the metadata as columns.
type ExportRow struct {
	Position      int64     `parquet:"position" json:"position"`
	Prepare       int64     `parquet:"prepare" json:"prepare"`
	ID            string    `parquet:"id" json:"id"`
	Stream        string    `parquet:"stream,dict,zstd" json:"stream"`
	Revision      int64     `parquet:"revision" json:"revision"`
	Type          string    `parquet:"type,dict,zstd" json:"type"`
	Version       int32     `parquet:"version" json:"version"`
	RecordedAt    time.Time `parquet:"recorded_at,timestamp(microsecond:utc)" json:"recordedAt"`
	Data          string    `parquet:"data,json,zstd" json:"-"`
	Actor         string    `parquet:"actor,dict,zstd" json:"actor,omitempty"`
	CorrelationID string    `parquet:"correlation_id,zstd" json:"correlationId,omitempty"`
	CausationID   string    `parquet:"causation_id,zstd" json:"causationId,omitempty"`
	Host          string    `parquet:"host,dict,zstd" json:"host,omitempty"`
	PrevHash      string    `parquet:"prev_hash,zstd" json:"prevHash,omitempty"`
	Hash          string    `parquet:"hash,zstd" json:"hash,omitempty"`
	// ImportedFrom, Source and OccurredAt mark imported history; the
	// hash covers them when they are set.
	ImportedFrom string `parquet:"imported_from,dict,zstd" json:"importedFrom,omitempty"`
	Source       string `parquet:"source,zstd" json:"source,omitempty"`
	OccurredAt   string `parquet:"occurred_at,zstd" json:"occurredAt,omitempty"`
}

// Export returns r as an ExportRow, its data redacted.
func Export(r events.Recorded) ExportRow {
	return ExportRow{
		Position: int64(r.Position.Commit), Prepare: int64(r.Position.Prepare), ID: r.ID, Stream: r.Stream,
		Revision: int64(r.Revision), Type: r.Type, Version: int32(r.Version), RecordedAt: r.RecordedAt.UTC(),
		Data: string(JSON(r.Data)), Actor: r.Metadata.Actor, CorrelationID: r.Metadata.CorrelationID,
		CausationID: r.Metadata.CausationID, Host: r.Metadata.Host, PrevHash: r.Metadata.PrevHash, Hash: r.Metadata.Hash,
		ImportedFrom: r.Metadata.ImportedFrom, Source: r.Metadata.Source, OccurredAt: r.Metadata.OccurredAt,
	}
}

// MarshalJSON writes the row with its data inline, as a JSON value rather
// than a string.
func (r ExportRow) MarshalJSON() ([]byte, error) {
	type plain ExportRow
	return json.Marshal(struct {
		plain
		Data json.RawMessage `json:"data"`
	}{plain(r), json.RawMessage(r.Data)})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (r *ExportRow) UnmarshalJSON(b []byte) error {
	type plain ExportRow
	var l struct {
		plain
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*r = ExportRow(l.plain)
	r.Data = string(l.Data)
	return nil
}

// Recorded returns the event the row shows, for recomputing its hash
// (events.RecordedHash): equal to the recorded hash unless the data was
// redacted.
func (r ExportRow) Recorded() events.Recorded {
	return events.Recorded{
		ID: r.ID, Type: r.Type, Version: int(r.Version), Stream: r.Stream, Revision: uint64(r.Revision),
		Position: events.Position{Commit: uint64(r.Position), Prepare: uint64(r.Prepare)}, RecordedAt: r.RecordedAt,
		Data: json.RawMessage(r.Data), Metadata: events.Metadata{
			Actor: r.Actor, CorrelationID: r.CorrelationID, CausationID: r.CausationID, Host: r.Host, PrevHash: r.PrevHash, Hash: r.Hash,
			ImportedFrom: r.ImportedFrom, Source: r.Source, OccurredAt: r.OccurredAt,
		},
	}
}
