# Walker for buildledger's evaluator: turns a jobset's attribute set into a
# flat list of job records the Go side decodes.
#
#   root   the jobset's attribute set (release.nix result or flake hydraJobs)
#   only   null to walk everything, or a list of attribute paths (lists of
#          names) whose subtrees are walked
#   catch  wrap each attribute in builtins.tryEval so that a throw or a
#          failed assertion becomes an error record instead of killing the
#          whole evaluation
#   probe  null, or an attribute path whose kind is returned instead of
#          walking
#   shard  null, or { index; count; }: walk only the top-level attributes
#          whose position in attrNames is index modulo count
#   skip   attribute paths not to walk, as a tree of sets with true leaves
#   args   the jobset's inputs: a job that is a function with formals is
#          called with those it names, as nix-eval-jobs auto-calls it (a
#          function without formals is no job)
#   traced print "bl-walk:k:<path>" before classifying an attribute,
#          "bl-walk:j:<path>" before evaluating a job and
#          "bl-walk:r:<record>" for each finished record, so that after an
#          error tryEval cannot catch the finished records are kept and the
#          culprit is the last path marked
#
# A job record: { attr = [ names ]; name; system; drvPath;
#   outputs = [ { name; path; } ]; meta = { ... }; agg; glob; cons; }
# An error record: { attr = [ names ]; err = "caught" | "unsupported"; kind; }
{ root, only, catch, probe, skip ? { }, traced ? false, shard ? null, args ? { } }:
let
  inherit (builtins)
    attrNames concatMap deepSeq filter getAttr isAttrs isBool isInt isList
    isString map tryEval typeOf;

  # The helpers below are written for few function calls per attribute:
  # this code runs once for every job of a jobset.

  kindOf = v:
    if isAttrs v then (if (v.type or null) == "derivation" then "drv" else "set")
    else if v == null then "null"
    else typeOf v;

  # classify path v: the kind of v, under tryEval (and a trace mark).
  classify =
    if traced then path: v: tryEval (builtins.trace ("bl-walk:k:" + builtins.toJSON path) (kindOf v))
    else if catch then path: v: tryEval (kindOf v)
    else path: v: { success = true; value = kindOf v; };

  # force path r: r forced deeply, under tryEval (and a trace mark).
  force =
    if traced then path: r: tryEval (builtins.trace ("bl-walk:j:" + builtins.toJSON path) (deepSeq r r))
    else if catch then path: r: tryEval (deepSeq r r)
    else path: r: { success = true; value = r; };

  emit = if traced then r: builtins.trace ("bl-walk:r:" + builtins.toJSON r) r else r: r;

  # call v: v, or v called with the inputs it names when it is a function.
  call = v:
    if builtins.isFunction v && builtins.functionArgs v != { }
    then v (builtins.intersectAttrs (builtins.functionArgs v) args)
    else v;

  at = path: v: if path == [ ] then v else at (builtins.tail path) (call (getAttr (builtins.head path) v));

  str = x: if isString x then x else null;
  int = x: if isInt x then x else null;

  license1 = l:
    if isString l then l
    else if isAttrs l then {
      shortName = str (l.shortName or null);
      fullName = str (l.fullName or null);
      spdxId = str (l.spdxId or null);
    }
    else null;

  maintainer1 = m:
    if isString m then m
    else if isAttrs m then {
      email = str (m.email or null);
      name = str (m.name or null);
    }
    else null;

  listOf = f: x: if isList x then map f x else if x == null then [ ] else [ (f x) ];

  homepage = h: if isList h then (if h == [ ] then null else str (builtins.head h)) else str h;

  bool = x: if isBool x then x else null;

  # Normalisers of the meta attributes Hydra records; only the attributes a
  # meta set has are normalised and returned.
  metaFields = {
    description = str;
    homepage = homepage;
    license = listOf license1;
    maintainers = listOf maintainer1;
    timeout = int;
    maxSilent = int;
    schedulingPriority = int;
    isHydraChannel = bool;
    isChannel = bool;
  };

  metaOf = m:
    if isAttrs m
    then builtins.mapAttrs (k: getAttr k metaFields) (builtins.intersectAttrs metaFields m)
    else { };

  constituent = c:
    if isString c then { n = c; }
    else if isAttrs c then { d = c.drvPath; }
    else { bad = typeOf c; };

  job = path: d:
    let
      base = {
        attr = path;
        name = d.name;
        system = d.system;
        drvPath = d.drvPath;
        outputs = map (o: { name = o; path = d.${o}.outPath; }) (d.outputs or [ "out" ]);
        meta = metaOf (d.meta or null);
      };
      r =
        if (d._hydraAggregate or false) == true then
          base // {
            agg = true;
            glob = (d._hydraGlobConstituents or false) == true;
            cons = map constituent (d.constituents or [ ]);
          }
        else base;
      t = force path r;
    in
    emit (if t.success then t.value else { attr = path; err = "caught"; kind = "drv"; });

  # names path v: the attribute names of set v to walk.
  names = path: v:
    let ns = attrNames (removeAttrs v [ "recurseForDerivations" ]); len = builtins.length ns; in
    if shard == null || path != [ ] then ns
    else builtins.genList (i: builtins.elemAt ns (i * shard.count + shard.index))
      ((len - shard.index + shard.count - 1) / shard.count);

  walk = path: sk: v:
    let t = classify path v; in
    if isBool sk then [ ]
    else if !t.success then [ (emit { attr = path; err = "caught"; kind = "unknown"; }) ]
    else if t.value == "drv" then [ (job path v) ]
    else if t.value == "set" then
      (if sk == { }
       then concatMap (n: walk (path ++ [ n ]) { } v.${n}) (names path v)
       else concatMap (n: walk (path ++ [ n ]) (sk.${n} or { }) v.${n}) (names path v))
    else if t.value == "null" then [ ]
    else if t.value == "lambda" then (if builtins.functionArgs v == { } then [ ] else walk path sk (call v))
    else [ (emit { attr = path; err = "unsupported"; kind = t.value; }) ];

  probed =
    { kind = kindOf (at probe root); };
in
if probe != null then probed
else if only == null then walk [ ] skip root
else concatMap (p: walk p { } (at p root)) only
