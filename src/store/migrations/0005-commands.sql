-- Commands sent to clusters through the tunnel (ping, logs…). The row is the command's one source of truth:
-- any replica may take the request, the replica holding the cluster's tunnel session delivers it, the first
-- result recorded wins (state goes from pending to done once), so a command completes exactly once.
create table commands (
  key text primary key,
  cluster text not null,
  location text not null,
  action jsonb not null,
  requested_by text not null,
  state text not null default 'pending' check (state in ('pending', 'done')),
  outcome text check (outcome in ('succeeded', 'failed', 'expired', 'refused')),
  message text,
  -- The rule that refused it (the residency guard's), when outcome is refused.
  rule text,
  -- User content (pod logs) of a completed command, kept only until the caller has read it.
  output text,
  deliveries int not null default 0,
  created_at timestamptz not null default now(),
  deadline timestamptz not null,
  completed_at timestamptz
);
create index commands_pending on commands (location, state) where state = 'pending';
