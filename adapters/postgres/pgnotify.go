package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/commands/reactors/pgnotify"
)

// Notifier sends Hydra's NOTIFY channels for the pgnotify reactor.
type Notifier struct{ pool *pgxpool.Pool }

var _ pgnotify.Sender = (*Notifier)(nil)

// NewNotifier returns a Notifier on pool's database.
func NewNotifier(pool *pgxpool.Pool) *Notifier { return &Notifier{pool: pool} }

// Notify implements pgnotify.Sender: one statement, so the listeners hear
// the notes together and in order.
func (n *Notifier) Notify(ctx context.Context, notes []pgnotify.Note) error {
	channels, payloads := make([]string, len(notes)), make([]string, len(notes))
	for i, nt := range notes {
		channels[i], payloads[i] = nt.Channel, nt.Payload
	}
	_, err := n.pool.Exec(ctx, `select pg_notify(n.channel, n.payload) from unnest($1::text[], $2::text[]) with ordinality as n(channel, payload, nr) order by n.nr`,
		channels, payloads)
	if err != nil {
		return fmt.Errorf("send %d notifications: %w", len(notes), err)
	}
	return nil
}
