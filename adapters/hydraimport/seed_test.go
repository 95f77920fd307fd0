package hydraimport_test

import (
	"context"
	_ "embed"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"buildledger/adapters/postgres/pgtest"
)

//go:embed testdata/hydra-v87.sql
var hydraSchema string

// hydraDB makes schema hydra in pool's database from Hydra's own DDL
// (testdata/hydra-v87.sql) and returns a pool whose unqualified names
// are Hydra's tables, as they are in a Hydra database.
func hydraDB(t testing.TB, pool *pgxpool.Pool) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `create schema hydra`)
	require.NoError(t, err)
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	require.NoError(t, err)
	cfg.ConnConfig.Database = pool.Config().ConnConfig.Database
	cfg.ConnConfig.RuntimeParams["search_path"] = "hydra"
	src, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(src.Close)
	_, err = src.Exec(ctx, hydraSchema)
	require.NoError(t, err)
	return src
}

// realistic fills a Hydra database with rows of the kinds the issue
// names: unfinished builds and busy steps, hidden projects, a renamed
// jobset, evaluations with errors and with no new builds, Hydra's NULLs
// wherever Hydra leaves them, and non-ASCII names and texts.
const realistic = `
insert into SchemaVersion values (87);
insert into Users (userName, fullName, emailAddress, password, emailOnError, type, publicDashboard) values
  ('alice', 'Alice Ñandú', 'alice@example.org', '743b6e23845e51b4daa9f9aad7bea3d075b4d892', 1, 'hydra', true),
  ('bob', null, 'bob@example.org', '$argon2id$v=19$m=64,t=1,p=1$aHlkcmFzYWx0MTIzNDU2Nw$ZMHqpKcP/Tlptse+e0YnjA', 0, 'hydra', false);
insert into UserRoles values ('alice', 'admin'), ('alice', 'restart-jobs'), ('bob', 'eval-jobset');
insert into Projects (name, displayName, description, enabled, hidden, owner, homepage) values
  ('nixpkgs', 'Nixpkgs — ünïcode', 'The package set', 1, 0, 'alice', 'https://nixos.org'),
  ('attic', 'Old stuff', null, 0, 1, 'bob', null);
insert into ProjectMembers values ('nixpkgs', 'bob');
insert into Jobsets (name, id, project, description, nixExprInput, nixExprPath, enabled, enableEmail, hidden, emailOverride,
    keepnr, checkInterval, schedulingShares, type, flake, triggerTime, forceEval) values
  ('trunk', 1, 'nixpkgs', 'main branch', 'src', 'release.nix', 1, 1, 0, '', 3, 300, 100, 0, null, null, null),
  ('staging-next', 2, 'nixpkgs', null, 'src', 'release.nix', 0, 0, 1, 'ops@example.org', 1, 0, 50, 0, null, null, null),
  ('flakey', 3, 'attic', null, null, null, 3, 0, 0, '', 3, 60, 100, 1, 'github:example/flakey', 1600004000, true);
insert into JobsetRenames values ('nixpkgs', 'staging', 'staging-next');
insert into JobsetInputs values ('nixpkgs', 'trunk', 'src', 'git', 1), ('nixpkgs', 'staging-next', 'src', 'git', 0);
insert into JobsetInputAlts (project, jobset, input, altnr, value) values
  ('nixpkgs', 'trunk', 'src', 0, 'https://example.org/nixpkgs.git master'),
  ('nixpkgs', 'staging-next', 'src', 0, 'https://example.org/nixpkgs.git staging');
insert into Builds (id, finished, timestamp, jobset_id, job, nixName, description, drvPath, system, license, homepage,
    maintainers, maxsilent, timeout, isChannel, isCurrent, priority, globalPriority, startTime, stopTime, isCachedBuild,
    buildStatus, size, closureSize, releaseName, keep, notificationPendingSince) values
  (1, 1, 1600000000, 1, 'hello', 'hello-2.10', 'A program that says hello', '/nix/store/aaaa-hello.drv', 'x86_64-linux',
    'gpl3Plus', 'https://gnu.org/hello', 'édouard', 7200, 36000, 0, 1, 100, 0, 1600000010, 1600000100, 0, 0, 1000, 5000, null, 0, null),
  (2, 1, 1600000000, 1, 'broken', null, null, '/nix/store/bbbb-broken.drv', 'x86_64-linux', null, null, null, 7200, 36000,
    0, 0, 100, 0, 1600000010, 1600000020, 0, 1, null, null, null, 0, null),
  (3, 1, 1600001000, 1, 'tested', 'tested', null, '/nix/store/cccc-tested.drv', 'x86_64-linux', null, null, null, 7200, 36000,
    1, 1, 100, 0, 1600001000, 1600001000, 1, 0, 10, 20, 'tested-1.0', 0, null),
  (4, 0, 1600002000, 1, 'queued', 'queued-1', null, '/nix/store/dddd-queued.drv', 'aarch64-linux', null, null, null, 7200, 36000,
    0, 1, 100, 10, null, null, null, null, null, null, null, 0, null),
  (5, 0, 1600002000, 1, 'running', 'running-1', null, '/nix/store/eeee-running.drv', 'x86_64-linux', null, null, null, 7200, 36000,
    0, 1, 100, 0, null, null, null, null, null, null, null, 0, null),
  (6, 1, 1600002000, 1, 'all', 'all', null, '/nix/store/ffff-all.drv', 'x86_64-linux', null, null, null, 7200, 36000,
    0, 1, 100, 0, 1600002001, 1600002002, 0, 0, null, null, null, 0, null);
insert into BuildOutputs values (1, 'out', '/nix/store/1111-hello-2.10'), (1, 'doc', '/nix/store/1112-hello-2.10-doc'),
  (2, 'out', '/nix/store/2222-broken'), (3, 'out', '/nix/store/3333-tested'), (4, 'out', '/nix/store/4444-queued'),
  (5, 'out', '/nix/store/5555-running'), (6, 'out', '/nix/store/6666-all');
insert into BuildSteps (build, stepnr, type, drvPath, busy, status, errorMsg, startTime, stopTime, machine, system,
    propagatedFrom, overhead, timesBuilt, isNonDeterministic) values
  (1, 1, 0, '/nix/store/aaaa-hello.drv', 0, 0, null, 1600000010, 1600000100, 'ssh://builder1', 'x86_64-linux', null, 3, 1, false),
  (2, 1, 0, '/nix/store/bbbb-broken.drv', 0, 1, 'builder for ''/nix/store/bbbb-broken.drv'' failed — ошибка', 1600000010,
    1600000020, 'ssh://builder1', 'x86_64-linux', null, null, 1, false),
  (5, 1, 0, '/nix/store/eeee-running.drv', 30, null, null, 1600002005, null, 'ssh://builder2', 'x86_64-linux', null, null, null, null),
  (6, 1, 0, '/nix/store/ffff-all.drv', 0, 0, null, 1600002001, 1600002002, 'localhost', 'x86_64-linux', null, null, 1, false);
insert into BuildStepOutputs values (1, 1, 'out', '/nix/store/1111-hello-2.10'), (1, 1, 'doc', '/nix/store/1112-hello-2.10-doc'),
  (2, 1, 'out', '/nix/store/2222-broken'), (6, 1, 'out', '/nix/store/6666-all');
insert into BuildProducts values (1, 1, 'nix-build', '', null, null, '/nix/store/1111-hello-2.10', 'hello-2.10', null),
  (1, 2, 'doc', 'manual', 1234, 'abcd', '/nix/store/1112-hello-2.10-doc/share/doc/hello.html', 'hello.html', 'index.html');
insert into BuildMetrics values (1, 'closure.size', 'bytes', 5000, 'nixpkgs', 'trunk', 'hello', 1600000000),
  (1, 'tests.ok', null, 12.5, 'nixpkgs', 'trunk', 'hello', 1600000000);
insert into FailedPaths values ('/nix/store/2222-broken');
insert into AggregateConstituents values (6, 1), (6, 3);
insert into EvaluationErrors (id, errorMsg, errorTime) values (1, 'broken2: évaluation failed', 1600000000);
insert into JobsetEvals (id, jobset_id, evaluationerror_id, timestamp, checkoutTime, evalTime, hasNewBuilds, hash, nrBuilds,
    nrSucceeded, flake, nixExprInput, nixExprPath) values
  (1, 1, 1, 1600000000, 3, 7, 1, 'hash1', 2, null, null, 'src', 'release.nix'),
  (2, 1, null, 1600001000, 1, 2, 1, 'hash2', 2, null, null, 'src', 'release.nix'),
  (3, 1, null, 1600002000, 1, 2, 1, 'hash3', 4, null, null, 'src', 'release.nix'),
  (4, 1, null, 1600003000, 1, 2, 0, 'hash4', 4, null, null, 'src', 'release.nix');
insert into JobsetEvalInputs (eval, name, altNr, type, uri, revision, shortRevLength, value, dependency, path, sha256hash) values
  (1, 'src', 0, 'git', 'https://example.org/nixpkgs.git', 'abc123', 7, null, null, '/nix/store/src1', 'sha1'),
  (3, 'src', 0, 'git', 'https://example.org/nixpkgs.git', 'def456', 7, null, null, '/nix/store/src3', 'sha3'),
  (3, 'dep', 0, 'build', null, null, null, null, 1, '/nix/store/1111-hello-2.10', null);
insert into JobsetEvalMembers values (1, 1, 1), (1, 2, 1), (2, 1, 0), (2, 3, 1), (3, 1, 0), (3, 3, 0), (3, 4, 1), (3, 5, 1),
  (3, 6, 1), (4, 1, 0), (4, 3, 0), (4, 4, 0), (4, 5, 0), (4, 6, 0);
insert into NewsItems (id, contents, createTime, author) values (1, 'Wartung am Wochenende — maintenance', 1600000500, 'alice');
insert into StarredJobs values ('bob', 'nixpkgs', 'trunk', 'hello');
`
