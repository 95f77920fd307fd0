package hydra

import (
	"fmt"
	"strconv"
	"strings"

	"buildledger/events"
)

// Hydra's processes tell each other what happened with NOTIFY, and tools
// that LISTEN (hydra-notify and its plugins, dashboards) rely on it. The
// channels Hydra's triggers send come from the same triggers on the read
// models (0010_hydra_tables.sql); the ones Hydra's evaluator and queue
// runner send are sent here, when the projection applies the event that
// records the same fact, with Hydra's payloads: fields separated by tabs.
// They are sent in log order at the end of the batch, so they reach
// listeners when the batch commits, with the rows they name.
//
// Only the live read models notify (hydraNotifies): a replay fills a
// scratch schema, and listeners must not hear history again. For the same
// reason imported history (metadata importedFrom) sends none of the
// programs' channels: a live projector working through an imported Hydra
// would otherwise announce every build Hydra ever queued. The trigger
// channels carry no payload and fire at most once a statement; those an
// imported batch sets off (jobsets_added) are still sent.

// note is one notification.
type note struct{ channel, payload string }

// notifier collects a batch's notifications; it is nil, and collects
// nothing, when the read models do not notify.
type notifier struct {
	notes []note
	// logs holds the log locations the batch recorded (StepLogStored),
	// by step attempt, for step_finished.
	logs map[logKey]string
}

type logKey struct {
	build   int64
	stepnr  int
	attempt int
}

// notifies asks the database whether the read models the batch writes
// are the live ones.
func (w *writer) notifies() (bool, error) {
	var live bool
	if err := w.tx.QueryRow(w.ctx, `select hydraNotifies()`).Scan(&live); err != nil {
		return false, fmt.Errorf("notifications: %w", err)
	}
	return live, nil
}

func (n *notifier) add(channel string, fields ...any) {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprint(f)
	}
	n.notes = append(n.notes, note{channel, strings.Join(parts, "\t")})
}

// notify records the notifications of ev, after the writer applied it.
func (w *writer) notify(ev any) error {
	n := w.notes
	if n == nil {
		return nil
	}
	switch p := ev.(type) {
	case *events.EvaluationStarted:
		n.add("eval_started", trace(p.EvalID), p.JobsetID)
	case *events.BuildQueued:
		n.add("build_queued", p.BuildID)
	case *events.EvaluationFinished:
		return w.notifyEvaluation(p)
	case *events.EvaluationCached:
		// A check recorded in the log has no evaluation id of its own.
		id, err := w.jobsetID(p.Project, p.Jobset)
		if err != nil || id == 0 {
			return err
		}
		n.add("eval_cached", "check."+strconv.FormatInt(p.Timestamp, 10), id, p.EvalID)
	case *events.EvaluationFailed:
		id, err := w.jobsetID(p.Project, p.Jobset)
		if err != nil || id == 0 {
			return err
		}
		n.add("eval_failed", trace(p.EvalID), id)
	case *events.StepStarted:
		n.add("step_started", p.BuildID, p.StepNr)
		n.add("build_started", p.BuildID)
	case *events.StepLogStored:
		if n.logs == nil {
			n.logs = map[logKey]string{}
		}
		n.logs[logKey{p.BuildID, p.StepNr, p.Attempt}] = p.Location
	case *events.StepFinished:
		// "-" is Hydra's "no log file": the log was recorded in an
		// earlier batch, or not at all.
		loc := n.logs[logKey{p.BuildID, p.StepNr, p.Attempt}]
		if loc == "" {
			loc = "-"
		}
		n.add("step_finished", p.BuildID, p.StepNr, loc)
	case *events.BuildFinished:
		n.add("build_finished", p.BuildID)
	case *events.BuildCached:
		n.add("build_finished", p.BuildID)
	}
	return nil
}

// trace is the id that correlates an evaluation's eval_* notifications
// (Hydra's is opaque too: a clock reading and a process id).
func trace(evalID int64) string { return strconv.FormatInt(evalID, 10) }

// notifyEvaluation records what Hydra's evaluator says of a finished
// evaluation: each build it kept from an earlier one (cached_build_finished
// or cached_build_queued), the evaluation (eval_added), and, when it
// queued new builds, the lowest of them (builds_added, which wakes Hydra's
// queue runner).
func (w *writer) notifyEvaluation(p *events.EvaluationFinished) error {
	if err := w.flush(); err != nil {
		return err
	}
	rows, err := w.tx.Query(w.ctx, `select m.build, m.isNew = 1, b.finished = 1 from JobsetEvalMembers m
		join Builds b on b.id = m.build where m.eval = $1 order by m.build`, p.EvalID)
	if err != nil {
		return fmt.Errorf("notifications of eval %d: %w", p.EvalID, err)
	}
	defer rows.Close()
	var lowestNew int64
	for rows.Next() {
		var (
			build          int64
			isNew, settled bool
		)
		if err := rows.Scan(&build, &isNew, &settled); err != nil {
			return fmt.Errorf("notifications of eval %d: %w", p.EvalID, err)
		}
		switch {
		case isNew:
			if lowestNew == 0 {
				lowestNew = build
			}
		case settled:
			w.notes.add("cached_build_finished", p.EvalID, build)
		default:
			w.notes.add("cached_build_queued", p.EvalID, build)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("notifications of eval %d: %w", p.EvalID, err)
	}
	w.notes.add("eval_added", trace(p.EvalID), p.JobsetID, p.EvalID)
	if lowestNew != 0 {
		w.notes.add("builds_added", lowestNew)
	}
	return nil
}

// jobsetID returns the id of a jobset, 0 if it is gone.
func (w *writer) jobsetID(project, name string) (int64, error) {
	if err := w.runQueued(); err != nil {
		return 0, err
	}
	rows, err := w.tx.Query(w.ctx, `select id from Jobsets where project = $1 and name = $2`, project, name)
	if err != nil {
		return 0, fmt.Errorf("jobset %s:%s: %w", project, name, err)
	}
	defer rows.Close()
	var id int64
	for rows.Next() {
		if err := rows.Scan(&id); err != nil {
			return 0, fmt.Errorf("jobset %s:%s: %w", project, name, err)
		}
	}
	return id, rows.Err()
}

// sendNotes sends the batch's notifications, in order.
func (w *writer) sendNotes() error {
	if w.notes == nil || len(w.notes.notes) == 0 {
		return nil
	}
	channels, payloads := make([]string, len(w.notes.notes)), make([]string, len(w.notes.notes))
	for i, n := range w.notes.notes {
		channels[i], payloads[i] = n.channel, n.payload
	}
	err := w.tx.Exec(w.ctx, `select pg_notify(n.channel, n.payload) from unnest($1::text[], $2::text[]) as n(channel, payload)`,
		channels, payloads)
	if err != nil {
		return fmt.Errorf("send %d notifications: %w", len(channels), err)
	}
	return nil
}
