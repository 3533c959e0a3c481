-- Every change made through the API, allowed or refused: who, what, when, before and after.
create table audit_log (
  id bigserial primary key,
  at timestamptz not null default now(),
  actor text not null,
  verb text not null,
  kind text not null,
  name text not null,
  result text not null,
  reason text,
  before jsonb,
  after jsonb
);
create index audit_log_at on audit_log (at desc);

-- API tokens: only a hash of the secret is kept.
create table api_tokens (
  name text primary key,
  role text not null check (role in ('viewer', 'operator', 'admin')),
  businesses jsonb,
  secret_hash text not null unique,
  created_at timestamptz not null default now(),
  expires_at timestamptz,
  revoked_at timestamptz
);

-- Leases for work that must run on exactly one hub replica.
create table leases (
  name text primary key,
  holder text not null,
  expires_at timestamptz not null
);
