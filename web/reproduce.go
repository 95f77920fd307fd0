package web

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var hexRE = regexp.MustCompile(`^[0-9a-fA-F]{1,64}$`)

// shellQuote quotes s for a POSIX shell: whatever a jobset author put in
// an input's value or URI stays one word and runs nothing.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// reproduce answers a shell script that fetches a build's inputs as its
// first evaluation saw them and runs nix-build on its job, as Hydra's
// /build/N/reproduce does. Every value from the database is quoted.
func (s *server) reproduce(w http.ResponseWriter, r *http.Request) error {
	b, err := s.loadBuild(r)
	if err != nil {
		return err
	}
	if len(b.JobsetEvals) == 0 {
		return errNotFound("evaluation of build " + strconv.FormatInt(b.ID, 10))
	}
	e, err := s.cfg.Queries.Eval(r.Context(), slices.Min(b.JobsetEvals))
	if err != nil {
		return err
	}
	js, err := s.cfg.Queries.Jobset(r.Context(), b.Project, b.Jobset)
	if err != nil {
		return err
	}
	var sb strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&sb, format, args...) }
	id := strconv.FormatInt(b.ID, 10)
	p("#! /usr/bin/env bash\n# Reproduces build %s of job %s from the inputs of evaluation %d.\n", id,
		shellQuote(b.Project+":"+b.Jobset+":"+b.Job), e.ID)
	p("# Usage: $0 [--dir PATH] [--fetch] [--print-flags] [nix-build flags...]\nset -e\n")
	p("tmpDir=\"$(realpath \"${TMPDIR:-/tmp}\")/build-%s\"\nfetchOnly=\nprintFlags=\ndeclare -a args extraArgs\n", id)
	p(`while [ $# -gt 0 ]; do
    arg="$1"; shift
    case "$arg" in
        --dir) tmpDir="$1"; shift ;;
        --fetch) fetchOnly=1 ;;
        --print-flags) printFlags=1 ;;
        *) extraArgs+=("$arg") ;;
    esac
done
mkdir -p "$tmpDir"
cd "$tmpDir"
`)
	names := make([]string, 0, len(e.Inputs))
	for n := range e.Inputs {
		names = append(names, n)
	}
	slices.Sort(names)
	exprInput := js.NixExprInput
	for _, n := range names {
		in := e.Inputs[n]
		q := shellQuote(n)
		p("\n# input %s (%s)\ninputDir=\n", q, shellQuote(in.Type))
		switch in.Type {
		case "git":
			uri, rev := deref(in.URI), deref(in.Revision)
			p("inputDir=\"$tmpDir\"/%s/source\n", q)
			p("if ! [ -d \"$inputDir\" ]; then\n    git clone -- %s \"$inputDir.tmp\"\n", shellQuote(uri))
			p("    (cd \"$inputDir.tmp\" && git fetch origin %s && git checkout %s)\n", shellQuote(rev), shellQuote(rev))
			p("    rm -rf \"$inputDir.tmp/.git\"\n    mv \"$inputDir.tmp\" \"$inputDir\"\nfi\n")
			// The revision goes inside a double-quoted word: only a hex
			// commit id is put there.
			if !hexRE.MatchString(rev) {
				rev = ""
			}
			p("args+=(--arg %s \"{ outPath = $inputDir; rev = \\\"%s\\\"; }\")\n", q, rev)
		case "string":
			p("args+=(--argstr %s %s)\n", q, shellQuote(deref(in.Value)))
		case "boolean", "nix":
			p("args+=(--arg %s %s)\n", q, shellQuote(deref(in.Value)))
		default:
			p("echo \"$0: input %s has type %s, which this script cannot fetch\" >&2\nexit 1\n", q, shellQuote(in.Type))
		}
		if n == exprInput {
			p("nixExprInputDir=\"$inputDir\"\n")
		}
		p("if [ -n \"$inputDir\" ]; then args+=(-I %s=\"$inputDir\"); fi\n", q)
	}
	p("\nif [ -n \"$fetchOnly\" ]; then exit 0; fi\n")
	p("if [ -z \"$nixExprInputDir\" ]; then echo \"$0: the Nix expression's input is unknown\" >&2; exit 1; fi\n")
	p("args+=(--option extra-substituters %s)\n", shellQuote(s.cacheURL(r)))
	p("args+=(\"$nixExprInputDir\"/%s -A %s)\n", shellQuote(js.NixExprPath), shellQuote(b.Job))
	p("if [ -n \"$printFlags\" ]; then printf '%%q ' \"${args[@]}\"; echo; exit 0; fi\n")
	p("exec nix-build \"${args[@]}\" --out-link \"$tmpDir/result\" \"${extraArgs[@]}\"\n")
	w.Header().Set("Content-Type", "text/x-shellscript")
	w.Header().Set("Content-Disposition", `attachment; filename="reproduce-build-`+id+`.sh"`)
	_, _ = w.Write([]byte(sb.String()))
	return nil
}
