package hydraimport

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"buildledger/domain/streams"
	"buildledger/events"
)

func (im *Importer) projects(ctx context.Context, b *batch) (int, error) {
	return im.each(ctx, `select p.name, p.displayName, p.description, p.enabled, p.hidden, p.owner, p.homepage,
			p.declfile, p.decltype, p.declvalue,
			coalesce(array(select m.userName from ProjectMembers m where m.project = p.name order by m.userName), '{}')
		from Projects p order by p.name`, nil, func(r pgx.Rows) error {
		var (
			name, display, owner             string
			desc, home, dfile, dtype, dvalue *string
			enabled, hidden                  int32
			members                          []string
		)
		if err := r.Scan(&name, &display, &desc, &enabled, &hidden, &owner, &home, &dfile, &dtype, &dvalue, &members); err != nil {
			return err
		}
		stream, source := streams.Project(name), "projects:"+name
		err := b.add(stream, source, 0, &events.ProjectCreated{Name: name, ProjectConfig: events.ProjectConfig{
			DisplayName: display, Description: str(desc), Homepage: str(home), Owner: owner,
			Enabled: enabled != 0, Hidden: hidden != 0, DeclFile: str(dfile), DeclType: str(dtype), DeclValue: str(dvalue)}})
		if err != nil || len(members) == 0 {
			return err
		}
		return b.add(stream, "projectmembers:"+name, 0, &events.ProjectMembersChanged{Project: name, Members: members})
	})
}

// jobsetConfig is the query's part that reads a jobset's configuration
// with its inputs (one alternative each: Hydra's rule since it dropped
// the others).
const jobsetConfig = `j.description, j.type, j.nixExprInput, j.nixExprPath, j.flake, j.enabled, j.hidden, j.enableEmail,
	j.emailOverride, j.keepnr, j.checkInterval, j.schedulingShares,
	coalesce(array(select i.name from JobsetInputs i where i.project = j.project and i.jobset = j.name order by i.name), '{}'),
	coalesce(array(select i.type from JobsetInputs i where i.project = j.project and i.jobset = j.name order by i.name), '{}'),
	coalesce(array(select coalesce((select a.value from JobsetInputAlts a where a.project = i.project and a.jobset = i.jobset
			and a.input = i.name order by a.altnr limit 1), '')
		from JobsetInputs i where i.project = j.project and i.jobset = j.name order by i.name), '{}'),
	coalesce(array(select i.emailResponsible from JobsetInputs i where i.project = j.project and i.jobset = j.name order by i.name), '{}')`

func scanJobset(r pgx.Rows, head ...any) (events.JobsetConfig, error) {
	var (
		c                             events.JobsetConfig
		desc, expr, path, flake       *string
		enabled, hidden, email        int32
		names, types, values          []string
		responsible                   []int32
		keep, interval, shares, jtype int32
	)
	dest := append(head, &desc, &jtype, &expr, &path, &flake, &enabled, &hidden, &email, &c.EmailOverride, &keep, &interval,
		&shares, &names, &types, &values, &responsible)
	if err := r.Scan(dest...); err != nil {
		return c, err
	}
	c.Description, c.Type, c.NixExprInput, c.NixExprPath, c.Flake = str(desc), int(jtype), str(expr), str(path), str(flake)
	c.Enabled, c.Hidden, c.EnableEmail = int(enabled), hidden != 0, email != 0
	c.KeepNr, c.CheckInterval, c.SchedulingShares = int(keep), int(interval), int(shares)
	for i := range names {
		c.Inputs = append(c.Inputs, events.JobsetInput{Name: names[i], Type: types[i], Value: values[i], EmailResponsible: responsible[i] != 0})
	}
	return c, nil
}

func (im *Importer) jobsets(ctx context.Context, b *batch) (int, error) {
	return im.each(ctx, `select j.project, j.name, j.id, `+jobsetConfig+` from Jobsets j order by j.id`, nil, func(r pgx.Rows) error {
		var (
			project, name string
			id            int32
		)
		c, err := scanJobset(r, &project, &name, &id)
		if err != nil {
			return err
		}
		return b.add(streams.Jobset(project, name), "jobsets:"+project+"/"+name, 0,
			&events.JobsetCreated{Project: project, Name: name, ID: int64(id), JobsetConfig: c})
	})
}

// renames records each of Hydra's JobsetRenames as buildledger records a
// rename: the new name is created from the old, and the old deleted as
// renamed.
func (im *Importer) renames(ctx context.Context, b *batch) (int, error) {
	return im.each(ctx, `select r.from_, j.project, j.name, j.id, `+jobsetConfig+`
		from JobsetRenames r join Jobsets j on j.project = r.project and j.name = r.to_ order by r.project, r.from_`, nil,
		func(r pgx.Rows) error {
			var (
				from, project, name string
				id                  int32
			)
			c, err := scanJobset(r, &from, &project, &name, &id)
			if err != nil {
				return err
			}
			source := "jobsetrenames:" + project + "/" + from
			if err := b.add(streams.Jobset(project, name), source, 0,
				&events.JobsetCreated{Project: project, Name: name, ID: int64(id), RenamedFrom: from, JobsetConfig: c}); err != nil {
				return err
			}
			return b.add(streams.Jobset(project, from), source, 0, &events.JobsetDeleted{Project: project, Name: from, RenamedTo: name})
		})
}

// triggers imports the evaluations Hydra was asked for and had not run
// yet (Jobsets.triggerTime, with forceEval) as the requests they are,
// after the evaluations, so that buildledger's evaluator serves them as
// Hydra's would have. The request's source names its time: a later run
// that finds a newer request appends it.
func (im *Importer) triggers(ctx context.Context, b *batch) (int, error) {
	return im.each(ctx, `select project, name, triggerTime, coalesce(forceEval, false) from Jobsets
		where triggerTime is not null order by project, name`, nil, func(r pgx.Rows) error {
		var (
			project, name string
			at            int32
			force         bool
		)
		if err := r.Scan(&project, &name, &at, &force); err != nil {
			return err
		}
		return b.add(streams.Jobset(project, name), fmt.Sprintf("jobsets:%s/%s/trigger=%d", project, name, at), int64(at),
			&events.EvaluationRequested{Project: project, Jobset: name, Reason: "hydra", Force: force, At: int64(at)})
	})
}
