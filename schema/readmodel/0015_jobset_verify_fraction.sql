-- The share of a jobset's built derivations rebuilt elsewhere to check
-- reproducibility (JobsetConfig.verifyFraction); not a column of Hydra's.
alter table Jobsets add column verifyFraction double precision not null default 0;
