package events

// RunCommand (#22): Hydra's plugin that runs a command after a build
// finishes. Its intention is a NotificationQueued of plugin "runcommand";
// the run itself is the stream runcommand-<uuid>, which makes the command
// run at most once: RunCommandStarted is recorded before the process
// starts, RunCommandFinished after it ends. Hydra's RunCommandLogs is
// their projection.

// RunCommandStarted records that a command is about to run for a build.
// Command is the command as hydra.conf gives it, or the store path of a
// dynamic hook, as Hydra records and shows it (docs/notifications.md:
// keep secrets out of the command line). Key is the notification the run
// delivers.
type RunCommandStarted struct {
	UUID       string `json:"uuid"`
	Key        string `json:"key"`
	JobMatcher string `json:"jobMatcher"`
	BuildID    int64  `json:"buildId"`
	Command    string `json:"command"`
	StartTime  int64  `json:"startTime"`
}

// RunCommandFinished records how a run ended, in Hydra's terms: the errno
// of a command that could not be started, the exit code of one that
// exited, the signal (and core dump) of one that was killed. TimedOut
// marks a kill by the time limit; Interrupted a run whose end is unknown
// (the server died while it ran: it is not run again). LogSize is how
// many bytes of output were stored, Truncated whether more came.
type RunCommandFinished struct {
	UUID        string `json:"uuid"`
	EndTime     int64  `json:"endTime"`
	ErrorNumber *int   `json:"errorNumber,omitempty"`
	ExitCode    *int   `json:"exitCode,omitempty"`
	Signal      *int   `json:"signal,omitempty"`
	CoreDumped  *bool  `json:"coreDumped,omitempty"`
	TimedOut    bool   `json:"timedOut,omitempty"`
	Interrupted bool   `json:"interrupted,omitempty"`
	LogSize     int64  `json:"logSize,omitempty"`
	Truncated   bool   `json:"truncated,omitempty"`
}

func (RunCommandStarted) EventType() string  { return "RunCommandStarted" }
func (RunCommandFinished) EventType() string { return "RunCommandFinished" }
