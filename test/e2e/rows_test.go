package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/stretchr/testify/require"
)

// stripHash is a SQL expression removing the store directory and hash
// from a store path column: what stays equal between runs with different
// nonces.
func stripHash(col string) string {
	return fmt.Sprintf(`coalesce(regexp_replace(%s, '^/nix/store/[0-9a-z]{32}-', ''), '-')`, col)
}

// stableQueries select the columns of Hydra's tables that two runs of the
// same jobset must agree on, whatever the event store: no ids, times,
// hashes of store paths or step numbers (which follow dispatch order).
var stableQueries = map[string]string{
	"builds": `select concat_ws('|', job, nixname, system, finished, buildstatus, iscachedbuild,
		coalesce(releasename, '-'), timeout, maxsilent, coalesce(description, '-'), coalesce(size::text, '-')) from builds`,
	"buildoutputs": `select concat_ws('|', b.job, o.name, ` + stripHash("o.path") + `) from buildoutputs o join builds b on b.id = o.build`,
	"buildsteps": `select concat_ws('|', ` + stripHash("s.drvpath") + `, s.type, s.busy, s.status, s.machine, s.system,
		coalesce(p.job, '-'), coalesce(s.timesbuilt::text, '-')) from buildsteps s left join builds p on p.id = s.propagatedfrom`,
	"buildstepoutputs": `select concat_ws('|', ` + stripHash("s.drvpath") + `, o.name, ` + stripHash("o.path") + `)
		from buildstepoutputs o join buildsteps s using (build, stepnr)`,
	"buildproducts": `select concat_ws('|', b.job, p.productnr, p.type, p.subtype, p.name, coalesce(p.filesize::text, '-'),
		coalesce(p.sha256hash, '-'), coalesce(p.defaultpath, '-'), ` + stripHash("p.path") + `) from buildproducts p join builds b on b.id = p.build`,
	"buildmetrics": `select concat_ws('|', b.job, m.name, coalesce(m.unit, '-'), m.value, m.project, m.jobset, m.job)
		from buildmetrics m join builds b on b.id = m.build`,
	"failedpaths":       `select ` + stripHash("path") + ` from failedpaths`,
	"jobsetevals":       `select concat_ws('|', hasnewbuilds, coalesce(nrbuilds::text, '-'), coalesce(nixexprinput, '-'), coalesce(nixexprpath, '-')) from jobsetevals`,
	"jobsetevalmembers": `select concat_ws('|', b.job, m.isnew) from jobsetevalmembers m join builds b on b.id = m.build`,
	"step_attempts":     `select concat_ws('|', ` + stripHash("drv_path") + `, attempt, machine, status, coalesce(times_built::text, '-')) from step_attempts`,
}

// stableDump returns the stable rows of every table in stableQueries,
// sorted.
func (e *harness) stableDump() map[string][]string {
	e.t.Helper()
	out := map[string][]string{}
	for table, q := range stableQueries {
		out[table] = e.queryStrings(`select r from (` + q + `) as t(r) order by 1`)
	}
	return out
}

// build is a Builds row.
type build struct {
	ID            int64
	Job           string
	Finished      int
	Status        *int
	IsCached      *int
	ReleaseName   *string
	DrvPath       string
	Size          *int64
	StartTime     *int64
	StopTime      *int64
	NrStepsOfIt   int
	PropagatedJob string
}

// builds returns the Builds rows by job.
func (e *harness) builds() map[string]build {
	e.t.Helper()
	rows, err := e.pool.Query(e.ctx, `select id, job, finished, buildstatus, iscachedbuild, releasename, drvpath, size, starttime, stoptime,
		(select count(*) from buildsteps s where s.build = b.id),
		coalesce((select string_agg(p.job, ',') from buildsteps s join builds p on p.id = s.propagatedfrom where s.build = b.id), '')
		from builds b`)
	require.NoError(e.t, err)
	defer rows.Close()
	out := map[string]build{}
	for rows.Next() {
		var b build
		require.NoError(e.t, rows.Scan(&b.ID, &b.Job, &b.Finished, &b.Status, &b.IsCached, &b.ReleaseName, &b.DrvPath, &b.Size,
			&b.StartTime, &b.StopTime, &b.NrStepsOfIt, &b.PropagatedJob))
		out[b.Job] = b
	}
	require.NoError(e.t, rows.Err())
	return out
}

// outputs returns the output paths of the successful builds.
func (e *harness) outputs() []string {
	return e.queryStrings(`select o.path from buildoutputs o join builds b on b.id = o.build where b.buildstatus = 0 order by 1`)
}

// nixCopy copies paths from the binary cache into a fresh chroot store,
// with the given key as the only trusted one and signatures required.
func (e *harness) nixCopy(trustedKey string, paths []string) (string, error) {
	fresh := filepath.Join(e.t.TempDir(), "fresh")
	args := append([]string{"--extra-experimental-features", "nix-command", "copy",
		"--from", "file://" + e.cacheDir, "--to", fresh,
		"--option", "require-sigs", "true", "--option", "trusted-public-keys", trustedKey,
		"--option", "substituters", ""}, paths...)
	cmd := exec.CommandContext(e.ctx, "nix", args...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+e.t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fresh, fmt.Errorf("nix copy: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return fresh, nil
}

// sha256Hex is the hex SHA-256 of s, as BuildProducts.sha256hash.
func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
