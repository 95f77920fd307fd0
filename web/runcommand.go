package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"buildledger/domain/runcommand"
)

// RunCommandLog is a row of Hydra's RunCommandLogs, with where its
// output is in the log store.
type RunCommandLog struct {
	UUID        string `json:"uuid"`
	JobMatcher  string `json:"job_matcher"`
	BuildID     int64  `json:"build_id"`
	Command     string `json:"command"`
	StartTime   *int64 `json:"start_time"`
	EndTime     *int64 `json:"end_time"`
	ErrorNumber *int   `json:"error_number"`
	ExitCode    *int   `json:"exit_code"`
	Signal      *int   `json:"signal"`
	CoreDumped  *bool  `json:"core_dumped"`
	// Location is the output's place in the log store (Logs).
	Location string `json:"-"`
}

// Outcome says how the run went, in the words of Hydra's build page.
func (l RunCommandLog) Outcome() string {
	switch {
	case l.StartTime == nil:
		return "Pending"
	case l.EndTime == nil:
		return "Running"
	case l.ExitCode != nil && *l.ExitCode == 0:
		return "Succeeded"
	case l.Signal != nil:
		s := "Exit signal: " + strconv.Itoa(*l.Signal)
		if l.CoreDumped != nil && *l.CoreDumped {
			s += " (core dumped)"
		}
		return s
	case l.ErrorNumber != nil:
		return "Exec error: " + strconv.Itoa(*l.ErrorNumber)
	case l.ExitCode != nil:
		return "Exit code: " + strconv.Itoa(*l.ExitCode)
	}
	return "Interrupted"
}

// runCommandRoutes are Hydra's RunCommand log routes.
func (s *server) runCommandRoutes(r chi.Router) {
	r.Get("/runcommandlog/{uuid}", s.h(s.runCommandLogFile))
	r.Get("/build/{id}/runcommandlog/{uuid}", s.h(s.runCommandLogPage("pretty")))
	r.Get("/build/{id}/runcommandlog/{uuid}/{mode}", s.h(s.runCommandLogPage("")))
}

// loadRunCommandLog finds the run uuid; a name that is not one of its
// uuids is not found, before any query.
func (s *server) loadRunCommandLog(r *http.Request) (RunCommandLog, error) {
	uuid := chi.URLParam(r, "uuid")
	if !runcommand.ValidUUID(uuid) {
		return RunCommandLog{}, errNotFound("RunCommand log " + strconv.Quote(uuid))
	}
	return s.cfg.Queries.RunCommandLog(r.Context(), uuid)
}

// runCommandLogFile answers a run's output as plain text (?tail=N: its
// last lines), as Hydra's /runcommandlog/UUID.
func (s *server) runCommandLogFile(w http.ResponseWriter, r *http.Request) error {
	l, err := s.loadRunCommandLog(r)
	if err != nil {
		return err
	}
	rc, err := s.openLog(LogRef{DrvPath: "RunCommand " + l.UUID, Location: l.Location}, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	s.sendLog(w, rc, queryInt(r, "tail", 0, maxTailLines))
	return nil
}

// runCommandLogPage is Hydra's /build/N/runcommandlog/UUID[/MODE]: the
// page (pretty), the end of the output (tail), or a redirect to the file
// (raw).
func (s *server) runCommandLogPage(fixed string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		mode := fixed
		if mode == "" {
			mode = chi.URLParam(r, "mode")
		}
		file := "/runcommandlog/" + url.PathEscape(chi.URLParam(r, "uuid"))
		tail := 0
		switch mode {
		case "raw":
			http.Redirect(w, r, file, http.StatusFound)
			return nil
		case "tail":
			tail = 50
		case "pretty":
		default:
			return errNotFound("log mode " + strconv.Quote(mode))
		}
		b, err := s.loadBuild(r)
		if err != nil {
			return err
		}
		l, err := s.loadRunCommandLog(r)
		if err != nil {
			return err
		}
		if l.BuildID != b.ID {
			return errNotFound("RunCommand log " + strconv.Quote(l.UUID) + " of build " + strconv.FormatInt(b.ID, 10))
		}
		rc, err := s.openLog(LogRef{DrvPath: "RunCommand " + l.UUID, Location: l.Location}, nil)
		if err != nil {
			return err
		}
		defer rc.Close()
		var text []byte
		cut := false
		if tail > 0 {
			text, err = tailLines(rc, tail)
			cut = true
		} else {
			text, cut, err = tailBytes(rc, maxPrettyLog)
		}
		if err != nil {
			return err
		}
		s.render(w, r, http.StatusOK, "runcommandlog", &runCommandLogPage{Build: b, Run: l, Log: string(text), Cut: cut, Raw: file})
		return nil
	}
}

// runCommandLogPage shows a run's output (runcommandlog.html).
type runCommandLogPage struct {
	page
	Build Build
	Run   RunCommandLog
	Log   string
	// Cut says Log is only the end of the output.
	Cut bool
	Raw string
}
