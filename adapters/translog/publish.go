package translog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"buildledger/adapters/postgres"
	"buildledger/domain/domainerr"
	"buildledger/events"
)

// Publish brings the tree up to the log's head, signs a checkpoint of it
// with s (whose name is the log's origin) and stores it as the one the
// log serves. A tree that has not grown keeps its checkpoint, so witnesses'
// cosignatures of it stay served.
func (t *Tree) Publish(ctx context.Context, s note.Signer) ([]byte, error) {
	tr, err := t.Sync(ctx)
	if err != nil {
		return nil, err
	}
	cp := Checkpoint{Origin: s.Name(), Tree: tr}
	var msg []byte
	err = postgres.Transact(ctx, t.pool, func(tx pgx.Tx) error {
		var old *string
		if err := tx.QueryRow(ctx, `select checkpoint from `+treeTable+` for update`).Scan(&old); err != nil {
			return err
		}
		if old != nil && strings.HasPrefix(*old, cp.String()+"\n") {
			msg = []byte(*old)
			return nil
		}
		if msg, err = SignCheckpoint(cp, s); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `update `+treeTable+` set checkpoint = $1`, string(msg))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tlog: publish a checkpoint: %w", err)
	}
	return msg, nil
}

// Checkpoint returns the latest published checkpoint with every
// cosignature witnesses posted for it.
func (t *Tree) Checkpoint(ctx context.Context) ([]byte, error) {
	var cp *string
	if err := t.pool.QueryRow(ctx, `select checkpoint from `+treeTable).Scan(&cp); err != nil {
		return nil, fmt.Errorf("tlog: read the checkpoint: %w", err)
	}
	if cp == nil {
		return nil, fmt.Errorf("no checkpoint published yet: %w", domainerr.ErrNotFound)
	}
	text, _, _ := strings.Cut(*cp, "\n\n")
	rows, err := t.pool.Query(ctx, `select line from `+cosigTable+` where checkpoint = $1 order by witness`, text+"\n")
	if err != nil {
		return nil, fmt.Errorf("tlog: read cosignatures: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("tlog: read cosignatures: %w", err)
	}
	return []byte(*cp + strings.Join(lines, "")), nil
}

// AddCosignature stores a witness's cosignature of the published
// checkpoint. body is the checkpoint note with the witness's signature
// line among its signatures; the line that verifies with one of witnesses
// is kept (a witness's older cosignature is replaced). A note of another
// checkpoint is a conflict, one no configured witness signed is invalid.
func (t *Tree) AddCosignature(ctx context.Context, body []byte, witnesses []*CosignatureVerifier) error {
	text, sigs, ok := strings.Cut(string(body), "\n\n")
	if !ok {
		return fmt.Errorf("%w: a cosigned checkpoint note has its text, a blank line and signature lines", domainerr.ErrInvalid)
	}
	text += "\n"
	var cp *string
	if err := t.pool.QueryRow(ctx, `select checkpoint from `+treeTable).Scan(&cp); err != nil {
		return fmt.Errorf("tlog: read the checkpoint: %w", err)
	}
	if cp == nil || !strings.HasPrefix(*cp, text+"\n") {
		return fmt.Errorf("%w: the cosigned checkpoint is not the one the log serves now; fetch it again", domainerr.ErrConflict)
	}
	for _, line := range strings.SplitAfter(sigs, "\n") {
		for _, w := range witnesses {
			if _, err := w.Verify(text, line); err != nil {
				continue
			}
			_, err := t.pool.Exec(ctx, `insert into `+cosigTable+` (witness, checkpoint, line) values ($1, $2, $3)
				on conflict (witness) do update set checkpoint = excluded.checkpoint, line = excluded.line, received_at = now()`,
				w.Name, text, strings.TrimSuffix(line, "\n")+"\n")
			if err != nil {
				return fmt.Errorf("tlog: store the cosignature of %s: %w", w.Name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: no signature line of a witness this log knows", domainerr.ErrInvalid)
}

// Event returns the event at a position (1 is the first) or with an id.
func (t *Tree) Event(ctx context.Context, store events.Store, ref string) (events.Recorded, error) {
	pos, err := t.position(ctx, ref)
	if err != nil {
		return events.Recorded{}, err
	}
	recs, err := store.ReadAll(ctx, events.At(uint64(pos-1)), 1)
	if err != nil {
		return events.Recorded{}, fmt.Errorf("tlog: read event %s: %w", ref, err)
	}
	if len(recs) == 0 || recs[0].Position.Commit != uint64(pos) {
		return events.Recorded{}, fmt.Errorf("event %s: %w", ref, domainerr.ErrNotFound)
	}
	return recs[0], nil
}

// position resolves an event reference: a position, or an event id.
func (t *Tree) position(ctx context.Context, ref string) (int64, error) {
	pos, id, err := ParseEventRef(ref)
	if err != nil || pos > 0 {
		return pos, err
	}
	err = t.pool.QueryRow(ctx, `select position from ledger.events where id = $1::uuid`, id).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("event %s: %w", ref, domainerr.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("tlog: find event %s: %w", ref, err)
	}
	return pos, nil
}

// ParseEventRef reads a reference to an event of the log, as
// /tlog/event/<ref> and audit prove --inclusion take it: a position in
// decimal (1 is the first), or an event id (a lowercase UUID). It returns
// the position, or 0 and the id. Only canonical forms are taken, so a
// reference is one URL path segment that names one event.
func ParseEventRef(ref string) (pos int64, id string, err error) {
	if events.IsUUID(ref) {
		return 0, ref, nil
	}
	pos, perr := strconv.ParseInt(ref, 10, 64)
	switch {
	case perr != nil || strconv.FormatInt(pos, 10) != ref:
		return 0, "", fmt.Errorf("%w: %q is neither a position nor an event id", domainerr.ErrInvalid, ref)
	case pos < 1:
		return 0, "", fmt.Errorf("%w: positions start at 1", domainerr.ErrInvalid)
	}
	return pos, "", nil
}
