-- The event log as a Merkle tree (C2SP tlog-tiles, adapters/translog):
-- leaf i is the hash of the event at position i+1. The tree is derived
-- from ledger.events by a follower, not written by the append, so appends
-- do not wait for it; a rewrite of the log shows as a tree that is not
-- consistent with the checkpoints signed before.
--
-- tlog_hashes holds the stored hashes of golang.org/x/mod/sumdb/tlog
-- (StoredHashIndex numbering): about two per leaf, never changed once
-- written.
create table tlog_hashes (
    index bigint primary key,
    hash  bytea  not null check (length(hash) = 32)
);

-- tlog_tree is the size and root of the tree the hashes cover, and the
-- latest signed checkpoint (a C2SP tlog-checkpoint note), if any.
create table tlog_tree (
    id         boolean primary key default true check (id),
    size       bigint  not null,
    root       bytea   not null,
    checkpoint text
);
insert into tlog_tree (id, size, root) values (true, 0, '\x0000000000000000000000000000000000000000000000000000000000000000');

-- tlog_cosignatures keeps each witness's latest cosignature (a C2SP
-- tlog-cosignature line) and the checkpoint text it covers.
create table tlog_cosignatures (
    witness     text        primary key,
    checkpoint  text        not null,
    line        text        not null,
    received_at timestamptz not null default now()
);
