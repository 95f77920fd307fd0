package runcommand

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"buildledger/commands"
	"buildledger/commands/reactors/outbox"
	"buildledger/domain/domainerr"
	"buildledger/domain/runcommand"
	"buildledger/events"
)

// Runner runs one command (adapters/notify/runcmd) and says how it
// ended; an error means it could not be started at all.
type Runner interface {
	Run(ctx context.Context, uuid, command string, hydraJSON []byte) (events.RunCommandFinished, error)
}

// Sender carries out queued runs: the outbox Sender of the plugin
// "runcommand".
type Sender struct {
	h      *commands.Handlers
	runner Runner
	clock  commands.Clock
	md     events.Metadata
	limit  time.Duration
}

var (
	_ outbox.Sender    = (*Sender)(nil)
	_ outbox.Timeouter = (*Sender)(nil)
)

// NewSender returns a Sender recording through rt and running through
// runner, whose commands take up to limit.
func NewSender(rt *commands.Runtime, runner Runner, limit time.Duration) *Sender {
	return &Sender{h: commands.NewHandlers(rt, nil, nil), runner: runner, clock: rt.Clock(),
		md: events.Metadata{Actor: commands.ComponentActor(Plugin)}, limit: limit}
}

// senderSlack is what an attempt takes beyond its command: recording
// the start and the end.
const senderSlack = 30 * time.Second

// Timeout implements outbox.Timeouter: a command's time limit, and the
// time to record it.
func (s *Sender) Timeout() time.Duration { return s.limit + senderSlack }

// Send implements outbox.Sender. Every run that was started counts as
// delivered, whatever the command did (Hydra does not retry a command);
// the answer says how it ended. An error is returned only before the
// start is recorded, so a retry never runs a command twice.
func (s *Sender) Send(ctx context.Context, key string, raw []byte) (string, error) {
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return "", fmt.Errorf("runcommand: payload: %w", err)
	}
	uuid, err := runcommand.UUID(key)
	if err != nil {
		return "", err
	}
	start := events.RunCommandStarted{UUID: uuid, Key: key, JobMatcher: p.Matcher, BuildID: p.BuildID,
		Command: p.Command, StartTime: s.clock.Now().Unix()}
	_, err = s.h.StartRunCommand(ctx, s.md, start)
	if errors.Is(err, domainerr.ErrConflict) {
		return s.resume(ctx, uuid)
	}
	if err != nil {
		return "", err
	}
	res, runErr := s.runner.Run(ctx, uuid, p.Command, p.HydraJSON)
	res.UUID, res.EndTime = uuid, s.clock.Now().Unix()
	if runErr != nil {
		res = events.RunCommandFinished{UUID: uuid, EndTime: res.EndTime, Interrupted: true}
	}
	if _, err := s.h.FinishRunCommand(ctx, s.md, res); err != nil {
		// The next attempt finds the run started and records it
		// interrupted; the command is not run again.
		return "", fmt.Errorf("runcommand: record the end of %s: %w", uuid, err)
	}
	if runErr != nil {
		return "not run: " + runErr.Error(), nil
	}
	return runcommand.Summary(res), nil
}

// resume settles a run that started in an earlier attempt: it is never
// started again.
func (s *Sender) resume(ctx context.Context, uuid string) (string, error) {
	st, err := s.h.RunCommand(ctx, uuid)
	if err != nil {
		return "", err
	}
	if st.Finished {
		return "ran before", nil
	}
	e := events.RunCommandFinished{UUID: uuid, EndTime: s.clock.Now().Unix(), Interrupted: true}
	if _, err := s.h.FinishRunCommand(ctx, s.md, e); err != nil && !errors.Is(err, domainerr.ErrConflict) {
		return "", err
	}
	return runcommand.Summary(e), nil
}
