-- Bootstrap tokens: single use, expiring, bound to a Location. Only a hash of the secret is kept.
create table bootstrap_tokens (
  id text primary key,
  secret_hash text not null,
  location text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  used_at timestamptz,
  used_by text,
  revoked_at timestamptz
);

-- Client certificates the hub's CA signed for relays and agents, so that they can be listed and revoked.
create table issued_certificates (
  serial text primary key,
  role text not null check (role in ('relay', 'agent')),
  location text not null,
  cluster text,
  issued_at timestamptz not null default now(),
  not_after timestamptz not null,
  revoked_at timestamptz
);
