package events

// builtinTypes lists every event type of this package with its current
// schema version. Add a type here when you declare it; bump its version and
// register an upcaster in NewCodec when its shape changes.
func builtinTypes() []builtin {
	return []builtin{
		{1, func() Payload { return new(ProjectCreated) }},
		{1, func() Payload { return new(ProjectUpdated) }},
		{1, func() Payload { return new(ProjectDeleted) }},
		{1, func() Payload { return new(ProjectMembersChanged) }},
		{1, func() Payload { return new(JobsetCreated) }},
		{1, func() Payload { return new(JobsetUpdated) }},
		{1, func() Payload { return new(JobsetDeleted) }},
		{1, func() Payload { return new(UserCreated) }},
		{1, func() Payload { return new(UserUpdated) }},
		{1, func() Payload { return new(UserDeleted) }},
		{1, func() Payload { return new(UserRolesChanged) }},
		{1, func() Payload { return new(MachineRegistered) }},
		{1, func() Payload { return new(MachineUpdated) }},
		{1, func() Payload { return new(MachineRemoved) }},
		{1, func() Payload { return new(IDsReserved) }},
		{1, func() Payload { return new(EvaluationRequested) }},
		{1, func() Payload { return new(EvaluationStarted) }},
		{1, func() Payload { return new(InputFetched) }},
		{1, func() Payload { return new(JobEvaluated) }},
		{1, func() Payload { return new(JobEvaluationFailed) }},
		{1, func() Payload { return new(EvaluationFinished) }},
		{1, func() Payload { return new(EvaluationCached) }},
		{1, func() Payload { return new(EvaluationFailed) }},
		{1, func() Payload { return new(BuildQueued) }},
		{1, func() Payload { return new(StepQueued) }},
		{1, func() Payload { return new(BuildCached) }},
		{1, func() Payload { return new(StepDispatched) }},
		{1, func() Payload { return new(StepStarted) }},
		{1, func() Payload { return new(StepLogStored) }},
		{1, func() Payload { return new(StepFinished) }},
		{1, func() Payload { return new(StepRetryScheduled) }},
		{1, func() Payload { return new(OutputUploaded) }},
		{1, func() Payload { return new(ProductScraped) }},
		{1, func() Payload { return new(MetricScraped) }},
		{1, func() Payload { return new(BuildFinished) }},
		{1, func() Payload { return new(BuildCancelled) }},
		{1, func() Payload { return new(BuildRestarted) }},
		{1, func() Payload { return new(BuildBumped) }},
		{1, func() Payload { return new(BuildKept) }},
	}
}
