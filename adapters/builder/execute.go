package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"buildledger/adapters/binarycache"
	"buildledger/adapters/logstore"
	"buildledger/adapters/nix/drv"
	"buildledger/adapters/nix/serve"
	"buildledger/adapters/ssh"
	"buildledger/commands"
	"buildledger/domain/machine"
	"buildledger/domain/nixsupport"
	"buildledger/domain/status"
	"buildledger/events"
)

// exitCodeRE finds the builder's exit code in Nix's error message.
var exitCodeRE = regexp.MustCompile(`failed with exit code (\d+)`)

// limits are the build limits of one step.
type limits struct {
	maxSilent, timeout time.Duration
	maxLog, maxOutput  int64
}

func (w *Worker) limits(c commands.BuildStep) limits {
	l := limits{maxSilent: time.Duration(c.MaxSilent) * time.Second, timeout: time.Duration(c.Timeout) * time.Second,
		maxLog: c.MaxLogSize, maxOutput: c.MaxOutputSize}
	if l.maxSilent <= 0 {
		l.maxSilent = w.cfg.MaxSilent
	}
	if l.timeout <= 0 {
		l.timeout = w.cfg.Timeout
	}
	if l.maxLog <= 0 {
		l.maxLog = w.cfg.MaxLogSize
	}
	if l.maxOutput <= 0 {
		l.maxOutput = w.cfg.MaxOutputSize
	}
	return l
}

// stepLog is the log of the running step: the log store's writer plus the
// tail kept for error messages.
type stepLog struct {
	w    *logstore.Writer
	tail *tailBuffer
}

// Write implements io.Writer; it never fails.
func (l *stepLog) Write(p []byte) (int, error) {
	l.tail.Write(p)
	return l.w.Write(p)
}

// failure ends a step with status code and message.
func failure(res *Result, code status.Code, format string, args ...any) Result {
	res.Finished.Status = int(code)
	res.Finished.ErrorMsg = fmt.Sprintf(format, args...)
	return *res
}

// execute runs the step: everything between StepStarted and StepFinished.
// It never fails: every problem becomes the step's status and message.
func (w *Worker) execute(ctx context.Context, c commands.BuildStep) (res Result) {
	lim := w.limits(c)
	lw, err := w.cfg.Logs.Create(c.DrvPath, c.Attempt)
	if err != nil {
		return failure(&res, status.Aborted, "create build log: %v", err)
	}
	log := &stepLog{w: lw, tail: newTailBuffer(4 << 10)}
	// The log is closed once complete: early, while the outputs are
	// uploaded, after a successful build; here after anything else.
	closeLog := sync.OnceValues(lw.Close)
	defer func() {
		info, err := closeLog()
		if err != nil {
			w.log.Error("build log", "drv", c.DrvPath, "err", err)
		}
		res.LogStore = events.StepLogStored{DrvPath: c.DrvPath, BuildID: c.BuildID, StepNr: c.StepNr, Attempt: c.Attempt,
			Location: info.Location, Size: info.Size, SHA256: info.SHA256}
		// Nix enforces the limit on the machine; this catches a log
		// that grew over it anyway.
		if info.Received > lim.maxLog {
			if res.Finished.Status == int(status.Success) || res.Finished.Status == int(status.FailedWithOutput) || res.Finished.Status == int(status.Failed) {
				res.Finished.Status = int(status.LogLimitExceeded)
				res.Finished.ErrorMsg = fmt.Sprintf("log limit of %d bytes exceeded", lim.maxLog)
				res.Uploads, res.Products, res.Metrics, res.Finished.Outputs = nil, nil, nil, nil
			}
		}
	}()

	d, err := w.reader.Read(c.DrvPath)
	if err != nil {
		return failure(&res, status.Aborted, "derivation %s is not in the local store: %v", c.DrvPath, err)
	}
	inputs, err := w.reader.InputPaths(d)
	if err != nil {
		return failure(&res, status.Aborted, "inputs of %s: %v", c.DrvPath, err)
	}

	sess, msg := w.connect(ctx, c, log)
	if sess == nil {
		return failure(&res, status.Aborted, "%s", msg)
	}
	// From here on every return ends the session: a failed call aborts
	// it (sessionError), the others release it.
	l, client := sess.link, sess.client

	var overhead time.Duration
	t0 := time.Now()
	if err := w.copyInputs(ctx, client, inputs); err != nil {
		return failure(&res, status.Aborted, "copy inputs to %s: %s", c.Machine, sessionError(err, l, log))
	}
	overhead += time.Since(t0)

	// The derivation goes to the cache while it builds; a successful
	// step's outcome waits for it (see startDerivationUpload).
	drvUploaded := w.startDerivationUpload(ctx, c)
	drvAwaited := false
	defer func() {
		if err := drvUploaded(); err != nil && !drvAwaited && ctx.Err() == nil {
			w.log.Warn("derivation not uploaded", "drv", c.DrvPath, "cache", w.cfg.Cache.URL(), "err", err)
		}
	}()

	opts := serve.BuildOptions{MaxSilentTime: lim.maxSilent, BuildTimeout: lim.timeout, MaxLogSize: uint64(lim.maxLog)}
	br, err := client.BuildDerivation(ctx, c.DrvPath, serve.NewBasicDerivation(d, inputs), opts)
	if err != nil {
		return failure(&res, status.Aborted, "build on %s: %s", c.Machine, sessionError(err, l, log))
	}
	out := br.StepOutcome()
	res.Finished.Status = out.Status
	res.Finished.TimesBuilt = int(br.TimesBuilt)
	res.Finished.IsNonDeterministic = br.IsNonDeterministic
	if !br.Success() {
		res.Finished.ErrorMsg = br.ErrorMsg
		if m := exitCodeRE.FindStringSubmatch(br.ErrorMsg); m != nil {
			res.Finished.ExitCode, _ = strconv.Atoi(m[1])
		} else if out.Status == int(status.Failed) {
			res.Finished.ExitCode = 1
		}
		// The outputs of a permanent failure are recorded so that they
		// go to FailedPaths and later builds of them are cached failures.
		if status.Code(out.Status).IsCacheable() {
			res.Finished.Outputs = outputsOf(d, br)
		}
		w.release(ctx, c, sess)
		return res
	}

	outputs := outputsOf(d, br)
	res.Finished.Outputs = outputs
	t1 := time.Now()
	sameStore := c.MachineConfig.URI == machine.Localhost && c.MachineConfig.Store == w.cfg.LocalStore
	infos, err := w.copyOutputs(ctx, client, outputs, lim.maxOutput, sameStore)
	var tooBig *outputTooLargeError
	if errors.As(err, &tooBig) {
		w.release(ctx, c, sess)
		res.Finished.Outputs = nil
		return failure(&res, status.NarSizeLimitExceeded, "%v", err)
	}
	if err != nil {
		return failure(&res, status.Aborted, "copy outputs from %s: %s", c.Machine, sessionError(err, l, log))
	}
	overhead += time.Since(t1)
	res.Finished.Overhead = overhead.Milliseconds()

	// The session is released and the log, now complete, closed while
	// the outputs are uploaded and scanned.
	released := make(chan struct{})
	go func() {
		defer close(released)
		w.release(ctx, c, sess)
		_, _ = closeLog()
	}()
	defer func() { <-released }()

	if w.cfg.Cache != nil {
		uploads, err := w.upload(ctx, c, outputs, infos)
		if err != nil {
			return failure(&res, status.Aborted, "upload outputs to %s: %v", w.cfg.Cache.URL(), err)
		}
		res.Uploads = uploads
		drvAwaited = true
		if err := drvUploaded(); err != nil {
			return failure(&res, status.Aborted, "upload derivation to %s: %v", w.cfg.Cache.URL(), err)
		}
		// A cache that keeps logs (s3://) gets this one as log/<drv>,
		// once it is complete.
		if logs, ok := w.cfg.Cache.(binarycache.LogUploader); ok {
			<-released
			if err := w.uploadLog(ctx, logs, c.DrvPath, lw.Location()); err != nil {
				return failure(&res, status.Aborted, "upload log to %s: %v", w.cfg.Cache.URL(), err)
			}
		}
	}

	w.scrape(ctx, c, outputs, &res)
	return res
}

// connectError explains a failed handshake, recognising a machine without
// nix-store.
func connectError(machine string, err, exitErr error, logTail string) string {
	var exit *ssh.ExitError
	tail := lastLine(logTail)
	if (errors.As(exitErr, &exit) && exit.Code == 127) || strings.Contains(logTail, "nix-store: not found") {
		return fmt.Sprintf("machine %s has no usable nix-store: %s", machine, tail)
	}
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Sprintf("machine %s has no nix-store: %v", machine, err)
	}
	msg := fmt.Sprintf("serve handshake with %s: %v", machine, err)
	if exitErr != nil {
		msg += fmt.Sprintf(" (%v)", exitErr)
	}
	if tail != "" {
		msg += ": " + tail
	}
	return msg
}

// sessionError describes an error of the serve session, with the reason
// the connection went away and the machine's last words when known.
func sessionError(err error, l *link, log *stepLog) string {
	exitErr := l.abort()
	msg := err.Error()
	if exitErr != nil && !errors.Is(err, ssh.ErrDisconnected) {
		msg += fmt.Sprintf(" (%v)", exitErr)
	}
	if tail := lastLine(log.tail.String()); tail != "" {
		msg += ": " + tail
	}
	return msg
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// outputsOf returns the step's outputs by name, sorted: the paths the
// derivation names, or those the machine reports for floating outputs.
func outputsOf(d *drv.Derivation, br serve.BuildResult) []events.Output {
	paths := map[string]string{}
	for name, p := range d.Outputs {
		paths[name] = p
	}
	for _, r := range br.BuiltOutputs {
		if paths[r.OutputName()] == "" {
			paths[r.OutputName()] = r.OutPath
		}
	}
	var out []events.Output
	for _, name := range d.OutputNames() {
		if paths[name] != "" {
			out = append(out, events.Output{Name: name, Path: paths[name]})
		}
	}
	return out
}

// scrape reads nix-support of the outputs in the local store. The
// products and metrics of a dependency's outputs are not those of the
// build the step ran for: they go with the attempt's StepFinished, for a
// job the scheduler may credit with the run. Its release name and failed
// mark count for its own builds.
func (w *Worker) scrape(ctx context.Context, c commands.BuildStep, outputs []events.Output, res *Result) {
	outs := make([]nixsupport.Output, len(outputs))
	for i, o := range outputs {
		outs[i] = nixsupport.Output{Name: o.Name, Path: o.Path}
	}
	sr, err := nixsupport.Scan(ctx, os.DirFS(w.root), outs, w.cfg.ScanLimits)
	if err != nil {
		w.log.Warn("nix-support files not fully read", "drv", c.DrvPath, "err", err)
		res.Skipped = append(res.Skipped, err.Error())
	}
	products, metrics, build := &res.Products, &res.Metrics, c.BuildID
	if c.Dependency {
		products, metrics, build = &res.Finished.Products, &res.Finished.Metrics, 0
	}
	for i, p := range sr.Products {
		*products = append(*products, p.Event(build, i+1))
	}
	for _, m := range sr.Metrics {
		*metrics = append(*metrics, m.Event(build))
	}
	for _, s := range sr.Skipped {
		res.Skipped = append(res.Skipped, fmt.Sprintf("%s:%d: %s (%q)", s.File, s.Line, s.Reason, s.Text))
	}
	if len(sr.Skipped) > 0 {
		w.log.Info("nix-support lines skipped", "drv", c.DrvPath, "count", len(sr.Skipped))
	}
	res.Finished.ReleaseName = sr.ReleaseName
	if sr.Failed && res.Finished.Status == int(status.Success) {
		res.Finished.Status = int(nixsupport.BuildStatus(true))
	}
}
