/**
 * API tokens: a random secret shown once, stored as a SHA-256 hash, with a role and optionally the businesses
 * it is limited to. Tokens can expire and be revoked.
 */
import { createHash, randomBytes } from "node:crypto";
import { UserError } from "../../errors/user-error.ts";
import type { Sql } from "../../store/sql.ts";
import type { Caller, Role } from "../registry/caller.ts";

const prefix = "uft_";

export interface TokenSpec {
  name: string;
  role: Role;
  businesses?: string[];
  expiresAt?: Date;
}

export interface TokenInfo extends TokenSpec {
  createdAt: string;
  revokedAt?: string;
}

function hash(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Creates a token and returns its secret (the only time it is shown). */
export async function createToken(sql: Sql, spec: TokenSpec): Promise<string> {
  const secret = `${prefix}${randomBytes(24).toString("base64url")}`;
  try {
    await sql.query(
      "insert into api_tokens (name, role, businesses, secret_hash, expires_at) values ($1, $2, $3::jsonb, $4, $5)",
      [
        spec.name,
        spec.role,
        spec.businesses ? JSON.stringify(spec.businesses) : null,
        hash(secret),
        spec.expiresAt?.toISOString() ?? null,
      ],
    );
  } catch (error) {
    if (/duplicate key/.test((error as Error).message))
      throw new UserError("AlreadyExists", `a token named "${spec.name}" already exists`);
    throw error;
  }
  return secret;
}

/** The caller a token stands for, or undefined when it is unknown, expired or revoked. */
export async function authenticate(
  sql: Sql,
  secret: string | undefined,
  now: Date,
): Promise<Caller | undefined> {
  if (!secret?.startsWith(prefix)) return undefined;
  const rows = await sql.query<{ name: string; role: Role; businesses: string[] | null }>(
    `select name, role, businesses from api_tokens
     where secret_hash = $1 and revoked_at is null and (expires_at is null or expires_at > $2)`,
    [hash(secret), now.toISOString()],
  );
  const row = rows[0];
  if (!row) return undefined;
  return { name: row.name, role: row.role, ...(row.businesses ? { businesses: row.businesses } : {}) };
}

export async function revokeToken(sql: Sql, name: string, now: Date): Promise<void> {
  const rows = await sql.query(
    "update api_tokens set revoked_at = $2 where name = $1 and revoked_at is null returning 1",
    [name, now.toISOString()],
  );
  if (rows.length === 0) throw new UserError("NotFound", `no active token named "${name}"`);
}

export async function hasAdminToken(sql: Sql): Promise<boolean> {
  const rows = await sql.query(
    "select 1 from api_tokens where role = 'admin' and revoked_at is null limit 1",
  );
  return rows.length > 0;
}

export async function listTokens(sql: Sql): Promise<TokenInfo[]> {
  const rows = await sql.query<{
    name: string;
    role: Role;
    businesses: string[] | null;
    created_at: string;
    expires_at: string | null;
    revoked_at: string | null;
  }>(
    `select name, role, businesses, created_at::text, expires_at::text, revoked_at::text from api_tokens order by name`,
  );
  return rows.map((r) => ({
    name: r.name,
    role: r.role,
    ...(r.businesses ? { businesses: r.businesses } : {}),
    createdAt: r.created_at,
    ...(r.expires_at ? { expiresAt: new Date(r.expires_at) } : {}),
    ...(r.revoked_at ? { revokedAt: r.revoked_at } : {}),
  }));
}
