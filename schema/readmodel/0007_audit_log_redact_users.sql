-- Summaries written before the audit log redacted them (domain/redact)
-- copied old user events whole: password hashes, full names and email
-- addresses. Cut those fields out of them; the summary may end inside a
-- field, cut at 300 bytes. Other values (credential-looking jobset
-- inputs) are redacted by rebuilding the read models: buildledger replay.
update audit_log
set summary = regexp_replace(summary, ',?"(passwordHash|fullName|emailAddress)":"(\\.|[^"\\])*("|…$|$)', '', 'g')
where type in ('UserCreated', 'UserUpdated');
