package web

import (
	"archive/tar"
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// unixOne is the modification time of a channel's files, as Hydra's.
var unixOne = time.Unix(1, 0)

// errNoBzip2 answers the channel archives of a server without Bzip2.
var errNoBzip2 = &httpError{Status: http.StatusNotImplemented, Msg: "channel archives are not available"}

// channelBuilds keeps the builds a Nix channel contains: successful
// builds with a nix-build product and at least one output.
func channelBuilds(bs []Build) []Build {
	var out []Build
	for _, b := range bs {
		if !succeeded(b) || len(b.Outputs) == 0 {
			continue
		}
		for _, p := range b.Products {
			if p.Type == "nix-build" {
				out = append(out, b)
				break
			}
		}
	}
	return out
}

// nixString quotes s as a Nix string: backslash, double quote and dollar
// escaped, so that a job or release name runs nothing.
func nixString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`)
	return `"` + r.Replace(s) + `"`
}

// nixAttrPath quotes each component of a dotted job name.
func nixAttrPath(job string) string {
	parts := strings.Split(job, ".")
	for i, p := range parts {
		parts[i] = nixString(p)
	}
	return strings.Join(parts, ".")
}

// channelExpr is the default.nix of a channel: per system, an attribute
// per job (a dotted name nests) holding a fake derivation whose outputs
// are the build's store paths, so that nix-env can install them from a
// binary cache.
func channelExpr(bs []Build) string {
	var b strings.Builder
	b.WriteString(`{ system ? builtins.currentSystem }:

let

  maybeStorePath = if builtins ? langVersion && builtins.lessThan 1 builtins.langVersion
    then builtins.storePath
    else x: x;

  mkFakeDerivation = attrs: outputs:
    let
      outputNames = builtins.attrNames outputs;
      common = attrs // outputsSet //
        { type = "derivation";
          outputs = outputNames;
          all = outputsList;
        };
      outputToAttrListElement = outputName:
        { name = outputName;
          value = common // {
            inherit outputName;
            outPath = maybeStorePath (builtins.getAttr outputName outputs);
          };
        };
      outputsList = map outputToAttrListElement outputNames;
      outputsSet = builtins.listToAttrs outputsList;
    in outputsSet;

in

`)
	perSystem := map[string]map[string]Build{}
	for _, bd := range bs {
		if perSystem[bd.System] == nil {
			perSystem[bd.System] = map[string]Build{}
		}
		if old, ok := perSystem[bd.System][bd.Job]; !ok || bd.ID > old.ID {
			perSystem[bd.System][bd.Job] = bd
		}
	}
	systems := make([]string, 0, len(perSystem))
	for sys := range perSystem {
		systems = append(systems, sys)
	}
	slices.Sort(systems)
	for i, sys := range systems {
		if i > 0 {
			b.WriteString("else ")
		}
		fmt.Fprintf(&b, "if system == %s then {\n\n", nixString(sys))
		jobs := make([]string, 0, len(perSystem[sys]))
		for j := range perSystem[sys] {
			jobs = append(jobs, j)
		}
		slices.Sort(jobs)
		sets := map[string]bool{}
		for _, job := range jobs {
			bd := perSystem[sys][job]
			parts := strings.Split(job, ".")
			for k := 1; k < len(parts); k++ {
				sets[strings.Join(parts[:k], ".")] = true
			}
			name := deref(bd.NixName)
			if bd.ReleaseName != nil && *bd.ReleaseName != "" {
				name = *bd.ReleaseName
			}
			fmt.Fprintf(&b, "  # build %d\n  %s = (mkFakeDerivation {\n    type = \"derivation\";\n", bd.ID, nixAttrPath(job))
			fmt.Fprintf(&b, "    name = %s;\n    system = %s;\n    meta = {\n", nixString(name), nixString(bd.System))
			for _, m := range []struct {
				key string
				val *string
			}{{"description", bd.Meta.Description}, {"license", bd.Meta.License}, {"maintainers", bd.Meta.Maintainers}} {
				if deref(m.val) != "" {
					fmt.Fprintf(&b, "      %s = %s;\n", m.key, nixString(*m.val))
				}
			}
			b.WriteString("    };\n  } {\n")
			outs := make([]string, 0, len(bd.Outputs))
			for o := range bd.Outputs {
				outs = append(outs, o)
			}
			slices.Sort(outs)
			for _, o := range outs {
				fmt.Fprintf(&b, "    %s = %s;\n", nixString(o), nixString(bd.Outputs[o].Path))
			}
			main := outs[0]
			if _, ok := bd.Outputs["out"]; ok {
				main = "out"
			}
			fmt.Fprintf(&b, "  }).%s;\n\n", nixString(main))
		}
		for _, set := range slices.Sorted(mapKeys(sets)) {
			fmt.Fprintf(&b, "  %s.recurseForDerivations = true;\n\n", nixAttrPath(set))
		}
		b.WriteString("}\n\n")
	}
	if len(systems) > 0 {
		b.WriteString("else ")
	}
	b.WriteString("{}\n")
	return b.String()
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// sendChannel answers nixexprs.tar.bz2: channel/channel-name and
// channel/default.nix, as nix-channel unpacks them, of the outputs that
// are still valid.
func (s *server) sendChannel(w http.ResponseWriter, r *http.Request, name string, bs []Build) error {
	if s.cfg.Bzip2 == nil {
		return errNoBzip2
	}
	bs, err := s.validChannel(r.Context(), bs)
	if err != nil {
		return err
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for _, f := range []struct{ name, body string }{
		{"channel/channel-name", name}, {"channel/default.nix", channelExpr(bs)},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: unixOne, Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("channel tar: %w", err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			return fmt.Errorf("channel tar: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("channel tar: %w", err)
	}
	w.Header().Set("Content-Type", "application/x-bzip2")
	zw, err := s.cfg.Bzip2(w)
	if err != nil {
		return err
	}
	if _, err := zw.Write(tb.Bytes()); err != nil {
		s.log.Warn("write channel", "err", err)
		return nil
	}
	if err := zw.Close(); err != nil {
		s.log.Warn("write channel", "err", err)
	}
	return nil
}

// evalChannelBuilds lists the builds of an evaluation a channel contains.
func (s *server) evalChannelBuilds(r *http.Request) (Eval, []Build, error) {
	e, err := s.loadEval(r)
	if err != nil {
		return e, nil, err
	}
	ok := 0
	bs, err := s.cfg.Queries.Builds(r.Context(), BuildFilter{EvalID: e.ID, Status: &ok, Page: Page{Limit: len(e.Builds) + 1}})
	return e, channelBuilds(bs), err
}

// evalChannelList lists an evaluation's channel, as channel/latest does
// for a scope.
func (s *server) evalChannelList(w http.ResponseWriter, r *http.Request) error {
	e, bs, err := s.evalChannelBuilds(r)
	if err != nil {
		return err
	}
	s.respond(w, r, bs, "builds", &buildsPage{Title: "Channel of evaluation " + strconv.FormatInt(e.ID, 10), Builds: bs,
		Empty: "No build of this evaluation is in its channel.", Note: "Binary cache: " + s.cacheURL(r)})
	return nil
}

// storePaths answers the sorted output paths of an evaluation's channel
// builds, as NixOS's channel scripts read them.
func (s *server) storePaths(w http.ResponseWriter, r *http.Request) error {
	_, bs, err := s.evalChannelBuilds(r)
	if err != nil {
		return err
	}
	paths := []string{}
	for _, b := range bs {
		for _, o := range b.Outputs {
			paths = append(paths, o.Path)
		}
	}
	slices.Sort(paths)
	s.json(w, http.StatusOK, slices.Compact(paths))
	return nil
}
