package hydra

import "buildledger/events"

func projectCreated(w *writer, p *events.ProjectCreated) error {
	if p.RenamedFrom != "" {
		return projectRenamed(w, p)
	}
	if err := ensureUser(w, p.Owner); err != nil {
		return err
	}
	// The name is a project's again: it no longer redirects.
	if err := w.exec(`delete from ProjectRenames where from_ = $1`, p.Name); err != nil {
		return err
	}
	c := p.ProjectConfig
	return w.exec(`insert into Projects (name, displayName, description, enabled, hidden, owner, homepage, declfile, decltype, declvalue,
			enable_dynamic_run_command)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		p.Name, c.DisplayName, nullIfEmpty(c.Description), boolInt(c.Enabled), boolInt(c.Hidden), c.Owner,
		nullIfEmpty(c.Homepage), nullIfEmpty(c.DeclFile), nullIfEmpty(c.DeclType), nullIfEmpty(c.DeclValue), c.EnableDynamicRunCommand)
}

// projectRenamed renames the project's row in place, as Hydra does: the
// keys of its members, jobsets (and through them their inputs, renames,
// metrics and stars) cascade, and its evaluations and builds, which refer
// to jobset ids, stay where they are. The old name is kept to redirect.
// The jobsets' own JobsetCreated and JobsetDeleted of the rename that
// follow change nothing.
func projectRenamed(w *writer, p *events.ProjectCreated) error {
	if err := w.exec(`update Projects set name = $2 where name = $1`, p.RenamedFrom, p.Name); err != nil {
		return err
	}
	if err := w.exec(`delete from ProjectRenames where from_ = $1`, p.Name); err != nil {
		return err
	}
	if err := w.exec(`insert into ProjectRenames (from_, to_) values ($1, $2)
		on conflict (from_) do update set to_ = excluded.to_`, p.RenamedFrom, p.Name); err != nil {
		return err
	}
	return projectUpdated(w, &events.ProjectUpdated{Name: p.Name, ProjectConfig: p.ProjectConfig})
}

func projectUpdated(w *writer, p *events.ProjectUpdated) error {
	if err := ensureUser(w, p.Owner); err != nil {
		return err
	}
	c := p.ProjectConfig
	return w.exec(`update Projects set displayName = $2, description = $3, enabled = $4, hidden = $5, owner = $6,
		homepage = $7, declfile = $8, decltype = $9, declvalue = $10, enable_dynamic_run_command = $11 where name = $1`,
		p.Name, c.DisplayName, nullIfEmpty(c.Description), boolInt(c.Enabled), boolInt(c.Hidden), c.Owner,
		nullIfEmpty(c.Homepage), nullIfEmpty(c.DeclFile), nullIfEmpty(c.DeclType), nullIfEmpty(c.DeclValue), c.EnableDynamicRunCommand)
}

// ensureUser keeps Projects.owner's foreign key satisfied when the owner
// is not (or no longer) a user: the row is a disabled placeholder with an
// impossible password. Commands refuse unknown owners, so this only
// guards against history written before that rule.
func ensureUser(w *writer, name string) error {
	return w.exec(`insert into Users (userName, emailAddress, password, type) values ($1, '', '!', 'placeholder')
		on conflict (userName) do nothing`, name)
}

func projectMembers(w *writer, p *events.ProjectMembersChanged) error {
	if err := w.exec(`delete from ProjectMembers where project = $1`, p.Project); err != nil {
		return err
	}
	for _, m := range p.Members {
		if err := ensureUser(w, m); err != nil {
			return err
		}
		if err := w.exec(`insert into ProjectMembers (project, userName) values ($1, $2) on conflict do nothing`, p.Project, m); err != nil {
			return err
		}
	}
	return nil
}

func jobsetCreated(w *writer, p *events.JobsetCreated) error {
	c := p.JobsetConfig
	if p.RenamedFromProject != "" {
		return nil // moved with its project's row (projectRenamed)
	}
	if p.RenamedFrom != "" {
		// Hydra renames in place: the id stays, foreign keys cascade, and
		// the old name redirects.
		err := w.exec(`update Jobsets set name = $3 where project = $1 and name = $2`, p.Project, p.RenamedFrom, p.Name)
		if err != nil {
			return err
		}
		if err := w.exec(`delete from JobsetRenames where project = $1 and from_ = $2`, p.Project, p.Name); err != nil {
			return err
		}
		if err := w.exec(`insert into JobsetRenames (project, from_, to_) values ($1, $2, $3)
			on conflict (project, from_) do update set to_ = excluded.to_`, p.Project, p.RenamedFrom, p.Name); err != nil {
			return err
		}
		return jobsetUpdated(w, &events.JobsetUpdated{Project: p.Project, Name: p.Name, JobsetConfig: c})
	}
	err := w.exec(`insert into Jobsets (name, id, project, description, nixExprInput, nixExprPath, enabled, enableEmail,
			hidden, emailOverride, keepnr, checkInterval, schedulingShares, type, flake, verifyFraction, enable_dynamic_run_command)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		p.Name, p.ID, p.Project, nullIfEmpty(c.Description), legacy(c, c.NixExprInput), legacy(c, c.NixExprPath), c.Enabled,
		boolInt(c.EnableEmail), boolInt(c.Hidden), c.EmailOverride, c.KeepNr, c.CheckInterval, c.SchedulingShares,
		c.Type, flake(c), c.VerifyFraction, c.EnableDynamicRunCommand)
	if err != nil {
		return err
	}
	return jobsetInputs(w, p.Project, p.Name, c.Inputs)
}

func jobsetUpdated(w *writer, p *events.JobsetUpdated) error {
	c := p.JobsetConfig
	err := w.exec(`update Jobsets set description = $3, nixExprInput = $4, nixExprPath = $5, enabled = $6, enableEmail = $7,
			hidden = $8, emailOverride = $9, keepnr = $10, checkInterval = $11, schedulingShares = $12, type = $13, flake = $14,
			verifyFraction = $15, enable_dynamic_run_command = $16
		where project = $1 and name = $2`,
		p.Project, p.Name, nullIfEmpty(c.Description), legacy(c, c.NixExprInput), legacy(c, c.NixExprPath), c.Enabled,
		boolInt(c.EnableEmail), boolInt(c.Hidden), c.EmailOverride, c.KeepNr, c.CheckInterval, c.SchedulingShares,
		c.Type, flake(c), c.VerifyFraction, c.EnableDynamicRunCommand)
	if err != nil {
		return err
	}
	if err := w.exec(`delete from JobsetInputs where project = $1 and jobset = $2`, p.Project, p.Name); err != nil {
		return err
	}
	return jobsetInputs(w, p.Project, p.Name, c.Inputs)
}

// legacy returns v for a legacy jobset and NULL for a flake, as Hydra's
// CHECK constraints require.
func legacy(c events.JobsetConfig, v string) any {
	if c.Type != 0 {
		return nil
	}
	return v
}

func flake(c events.JobsetConfig) any {
	if c.Type != 1 {
		return nil
	}
	return c.Flake
}

func jobsetInputs(w *writer, project, jobset string, inputs []events.JobsetInput) error {
	for _, in := range inputs {
		err := w.exec(`insert into JobsetInputs (project, jobset, name, type, emailResponsible) values ($1, $2, $3, $4, $5)`,
			project, jobset, in.Name, in.Type, boolInt(in.EmailResponsible))
		if err != nil {
			return err
		}
		err = w.exec(`insert into JobsetInputAlts (project, jobset, input, altnr, value) values ($1, $2, $3, 0, $4)`,
			project, jobset, in.Name, in.Value)
		if err != nil {
			return err
		}
	}
	return nil
}
