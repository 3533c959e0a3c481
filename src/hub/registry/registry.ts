/**
 * The fleet registry: every kind of the hub (Locations, Regions, Clusters; Applications, Placements, Overrides;
 * ConsolidationPolicies) with Kubernetes semantics — validation with field paths, reference checks inside the
 * write transaction, optimistic concurrency on resourceVersion, a status subresource, generation bumps on spec
 * changes, JSON merge patch, JSON patch and server-side apply with field managers, label selectors, pagination,
 * watches, role and business checks, and an audit record of every change (allowed or refused).
 */

import { canonicalJson } from "../../core/resources/canonical-json.ts";
import { applyJsonPatch, parseJsonPatch } from "../../core/resources/json-patch.ts";
import {
  type Cluster,
  type FleetResource,
  type KindInfo,
  kinds,
  type Location,
  type NetworkPool,
  type PriceBook,
  placementReferences,
  type Region,
  referenceProblems,
  type ValidInput,
  validateInput,
} from "../../core/resources/kinds.ts";
import { parseLabelSelector } from "../../core/resources/label-selector.ts";
import {
  applyConfiguration,
  conflictMessage,
  fieldPathText,
  type ManagedFieldsEntry,
  managedFieldsOf,
  recordUpdate,
} from "../../core/resources/managed-fields.ts";
import { applyMergePatch } from "../../core/resources/merge-patch.ts";
import { apiVersion } from "../../core/resources/meta.ts";
import type { Problem } from "../../core/validation/problems.ts";
import { UserError } from "../../errors/user-error.ts";
import type {
  ChangeEvent,
  ListResult,
  ResourceStore,
  StoredObject,
  WriteTransaction,
} from "../../store/resource-store.ts";
import {
  InvalidContinueError,
  ResourceVersionTooLargeError,
  WatchExpiredError,
} from "../../store/resource-store.ts";
import {
  boundedObject,
  maxAuditNameChars,
  maxAuditReasonChars,
  RefusalAuditLimiter,
  refusalWindowMs,
  truncated,
} from "../audit/audit-bounds.ts";
import { type Caller, hasRole } from "./caller.ts";
import { retireClusterId } from "./cluster-id-retirement.ts";

export interface RegistryDependencies {
  store: ResourceStore;
  now: () => Date;
  newUid: () => string;
}

export interface ListQuery {
  labelSelector?: string;
  limit?: number;
  continue?: string;
}

export type Verb = "create" | "update" | "patch" | "update-status" | "delete";

/** Options of a change through the API. */
export interface WriteOptions {
  /** Check the change, store nothing (`dryRun=All`). */
  dryRun?: boolean;
  /**
   * Who makes the change, for `metadata.managedFields`: the `fieldManager` query parameter, else the client's
   * name from its User-Agent. Recorded on objects that a field manager has applied server-side.
   */
  fieldManager?: string;
}

/** Options of a server-side apply. */
export interface ApplyOptions {
  fieldManager: string;
  /** Take the fields another manager owns instead of refusing the apply with a conflict. */
  force?: boolean;
  dryRun?: boolean;
}

export class Registry {
  private readonly deps: RegistryDependencies;
  private readonly refusals = new RefusalAuditLimiter();

  constructor(deps: RegistryDependencies) {
    this.deps = deps;
  }

  async get(kind: KindInfo, name: string, caller: Caller): Promise<StoredObject> {
    const object = await this.deps.store.get(kind.kind, name);
    if (!object) throw notFound(kind, name);
    if (!visible(kind, object, caller)) throw outOfScope(caller, "get", kind, object);
    return object;
  }

  async list(kind: KindInfo, query: ListQuery, caller: Caller): Promise<ListResult> {
    const selector = parseLabelSelector(query.labelSelector ?? "");
    if (!selector.ok)
      throw new UserError("BadRequest", "invalid label selector", { problems: [selector.problem] });
    try {
      return await this.deps.store.list(kind.kind, {
        requirements: selector.requirements,
        ...(query.limit ? { limit: query.limit } : {}),
        ...(query.continue ? { continue: query.continue } : {}),
        ...(kind.kind === "Cluster" && caller.businesses
          ? { restrictTo: { label: "business", values: caller.businesses } }
          : {}),
      });
    } catch (error) {
      if (error instanceof InvalidContinueError) throw new UserError("BadRequest", error.message);
      throw error;
    }
  }

  /** Changes after `resourceVersion`, filtered to what the caller may see. Throws Expired when too old. */
  async changesSince(kind: KindInfo, resourceVersion: string, caller: Caller): Promise<ChangeEvent[]> {
    try {
      const events = await this.deps.store.eventsSince(resourceVersion, kind.kind);
      return events.filter((e) => visible(kind, e.object, caller));
    } catch (error) {
      throw watchError(error);
    }
  }

  /** Whether the caller may see an object of `kind` (a business-scoped token sees its businesses' clusters). */
  visibility(kind: KindInfo, caller: Caller): (object: StoredObject) => boolean {
    return (object) => visible(kind, object, caller);
  }

  /**
   * Checks that a watch may start at `resourceVersion`: Expired (410) when compacted away or not one this hub
   * issued, Timeout (504, "Too large resource version") when newer than the newest change.
   */
  async checkWatchable(resourceVersion: string): Promise<void> {
    try {
      await this.deps.store.checkWatchable(resourceVersion);
    } catch (error) {
      throw watchError(error);
    }
  }

  /** POST: creates an object; fails if it exists. */
  create(
    body: unknown,
    caller: Caller,
    options: { kind?: KindInfo; dryRun?: boolean } = {},
  ): Promise<StoredObject> {
    return this.mutate(
      "create",
      caller,
      options.kind,
      body,
      async (tx, input) => {
        if (await tx.get(input.kind.kind, input.name))
          throw new UserError("AlreadyExists", `${input.kind.singular} "${input.name}" already exists`);
        return { before: undefined, after: this.build(input, undefined) };
      },
      options.dryRun,
    );
  }

  /** PUT: replaces the spec, labels and annotations; with a resourceVersion, only if it is current. */
  replace(
    kind: KindInfo,
    name: string,
    body: unknown,
    caller: Caller,
    dryRun = false,
    fieldManager?: string,
  ): Promise<StoredObject> {
    return this.mutate(
      "update",
      caller,
      kind,
      body,
      async (tx, input) => {
        if (input.name !== name)
          throw invalid([{ path: "metadata.name", message: `must be "${name}", the name in the path` }]);
        const current = await this.current(tx, kind, name, caller);
        checkVersion(kind, name, input.resourceVersion, current);
        return { before: current, after: this.updatedBy(fieldManager, current, this.build(input, current)) };
      },
      dryRun,
      name,
    );
  }

  /** PATCH with a JSON merge patch (what `kubectl apply` and `kubectl patch --type=merge` send). */
  async patch(
    kind: KindInfo,
    name: string,
    patch: unknown,
    caller: Caller,
    dryRun = false,
    fieldManager?: string,
  ): Promise<StoredObject> {
    if (patch === null || typeof patch !== "object" || Array.isArray(patch))
      throw new UserError("BadRequest", "a merge patch must be a JSON object");
    return this.mutate(
      "patch",
      caller,
      kind,
      undefined,
      async (tx) => {
        const current = await this.current(tx, kind, name, caller);
        const merged = applyMergePatch(current, patch) as Record<string, unknown>;
        delete merged.status;
        const input = this.validate(merged, kind);
        if (input.name !== name) throw invalid([{ path: "metadata.name", message: "cannot be changed" }]);
        checkVersion(kind, name, input.resourceVersion, current);
        await this.checkReferences(tx, input);
        return { before: current, after: this.updatedBy(fieldManager, current, this.build(input, current)) };
      },
      dryRun,
      name,
    );
  }

  /**
   * PATCH with an RFC 6902 JSON patch (`kubectl patch --type=json`), applied to the whole object (a `test` of
   * `/metadata/resourceVersion` is a precondition); status changes are ignored, as on any main-resource write. A
   * malformed patch is a BadRequest (400); one that cannot apply — a missing path, a failed `test` — is invalid
   * (422), naming the operation and its path.
   */
  async jsonPatch(
    kind: KindInfo,
    name: string,
    operations: unknown,
    caller: Caller,
    options: WriteOptions = {},
  ): Promise<StoredObject> {
    const parsed = parseJsonPatch(operations);
    if (!parsed.ok)
      throw new UserError("BadRequest", "the JSON patch is malformed", { problems: parsed.problems });
    return this.mutate(
      "patch",
      caller,
      kind,
      undefined,
      async (tx) => {
        const current = await this.current(tx, kind, name, caller);
        const outcome = applyJsonPatch(current, parsed.operations);
        if (!outcome.ok)
          throw new UserError("InvalidInput", "the JSON patch cannot be applied", {
            problems: outcome.problems,
          });
        const patched = outcome.value as Record<string, unknown> | null;
        if (patched === null || typeof patched !== "object" || Array.isArray(patched))
          throw invalid([{ path: "(root)", message: "the patched document must be an object" }]);
        delete patched.status;
        const input = this.validate(patched, kind);
        if (input.name !== name) throw invalid([{ path: "metadata.name", message: "cannot be changed" }]);
        checkVersion(kind, name, input.resourceVersion, current);
        await this.checkReferences(tx, input);
        return {
          before: current,
          after: this.updatedBy(options.fieldManager, current, this.build(input, current)),
        };
      },
      options.dryRun,
      name,
    );
  }

  /**
   * Server-side apply (`kubectl apply --server-side`): creates the object when absent; otherwise merges the
   * manager's configuration into it, recording in `metadata.managedFields` which fields each manager set. A field
   * another manager owns with a different value is a Conflict (409) naming every such field, unless `force`
   * takes it; fields this manager applied before and no longer sends are removed when nobody else owns them.
   * Lists are atomic. An apply that changes nothing writes nothing.
   */
  async apply(
    kind: KindInfo,
    name: string,
    config: unknown,
    caller: Caller,
    options: ApplyOptions,
  ): Promise<{ object: StoredObject; created: boolean }> {
    if (config === null || typeof config !== "object" || Array.isArray(config))
      throw new UserError("BadRequest", "an apply configuration must be an object");
    let created = false;
    const object = await this.mutate(
      "patch",
      caller,
      kind,
      undefined,
      async (tx) => {
        const current = await tx.get(kind.kind, name);
        if (current && !visible(kind, current, caller)) throw outOfScope(caller, "change", kind, current);
        const doc = config as { apiVersion?: unknown; kind?: unknown; metadata?: Record<string, unknown> };
        const identity: Problem[] = [];
        if (doc.kind !== kind.kind)
          identity.push({ path: "kind", message: `must be ${kind.kind} at this path` });
        if (doc.metadata?.name !== name)
          identity.push({ path: "metadata.name", message: `must be "${name}", the name in the path` });
        if (identity.length > 0) throw invalid(identity);
        const outcome = applyConfiguration({
          live: current,
          config,
          manager: options.fieldManager,
          force: options.force === true,
          apiVersion,
          time: this.timestamp(),
        });
        if (!outcome.ok)
          throw new UserError("Conflict", conflictMessage(outcome.conflicts), {
            problems: outcome.conflicts.map((c) => ({
              path: fieldPathText(c.path),
              message: `conflict with ${JSON.stringify(c.manager.manager)}`,
            })),
          });
        const merged = outcome.merged as { metadata?: Record<string, unknown>; spec?: unknown };
        const version = doc.metadata?.resourceVersion;
        const input = this.validate(
          {
            apiVersion: doc.apiVersion,
            kind: kind.kind,
            metadata: {
              ...merged.metadata,
              name,
              ...(version !== undefined ? { resourceVersion: version } : {}),
            },
            spec: merged.spec,
          },
          kind,
        );
        if (current) checkVersion(kind, name, input.resourceVersion, current);
        await this.checkReferences(tx, input);
        const after = withManagedFields(this.build(input, current), outcome.managedFields);
        created = !current;
        if (current && sameContent(withoutFieldTimes(current), withoutFieldTimes(after)))
          return { before: current, after: current };
        return { before: current, after };
      },
      options.dryRun,
      name,
    );
    return { object, created };
  }

  /** PUT …/status: replaces only the status; the spec in the body is ignored. */
  replaceStatus(kind: KindInfo, name: string, body: unknown, caller: Caller): Promise<StoredObject> {
    const change = async (tx: WriteTransaction) => {
      const current = await this.current(tx, kind, name, caller);
      const doc = (body ?? {}) as { metadata?: { resourceVersion?: string }; status?: unknown };
      if (doc.status === undefined || doc.status === null || typeof doc.status !== "object")
        throw invalid([{ path: "status", message: "required field is missing" }]);
      checkVersion(kind, name, doc.metadata?.resourceVersion, current);
      return { before: current, after: { ...current, status: doc.status } as StoredObject };
    };
    return this.mutate("update-status", caller, kind, undefined, change, false, name);
  }

  /**
   * Merges fields into the status inside the write transaction, so that two writers of different fields (the
   * tunnel's inventory summary, the health loop's conditions) never undo each other's work.
   */
  mergeStatus(
    kind: KindInfo,
    name: string,
    fields: Record<string, unknown>,
    caller: Caller,
  ): Promise<StoredObject> {
    const change = async (tx: WriteTransaction) => {
      const current = await this.current(tx, kind, name, caller);
      const status = { ...((current.status as Record<string, unknown> | undefined) ?? {}), ...fields };
      return { before: current, after: { ...current, status } as StoredObject };
    };
    return this.mutate("update-status", caller, kind, undefined, change, false, name);
  }

  /** DELETE: removes an object that nothing else refers to. */
  delete(kind: KindInfo, name: string, caller: Caller, precondition?: string): Promise<StoredObject> {
    const change = async (tx: WriteTransaction) => {
      const current = await this.current(tx, kind, name, caller);
      checkVersion(kind, name, precondition, current);
      const dependents = await referringTo(tx, kind, name);
      if (dependents.length > 0)
        throw new UserError(
          "Conflict",
          `${kind.singular} "${name}" is still referred to by ${dependents.join(", ")}`,
          {
            hint: "delete or move those first",
          },
        );
      return { before: current, after: undefined };
    };
    return this.mutate("delete", caller, kind, undefined, change, false, name);
  }

  /**
   * Applies several documents in ONE transaction: each is created or updated (like `kubectl apply`); if any
   * is invalid, nothing is applied and every problem of every document is reported.
   */
  async applyAll(
    documents: ReadonlyArray<{ source: string; body: unknown }>,
    caller: Caller,
    dryRun = false,
  ): Promise<Array<{ object: StoredObject; action: "created" | "configured" | "unchanged" }>> {
    try {
      return await this.applyDocuments(documents, caller, dryRun);
    } catch (error) {
      if (error instanceof UserError) {
        const kinds = new Set(documents.map((d) => kindOf(d.body)));
        const names = documents.map((d) => nameOf(d.body) ?? "?");
        await this.recordRefusal(
          caller,
          "apply",
          kinds.size === 1 ? [...kinds][0]! : "*",
          names.length === 1 ? names[0]! : `${names.length} documents: ${names.join(", ")}`,
          error,
        );
      }
      throw error;
    }
  }

  private async applyDocuments(
    documents: ReadonlyArray<{ source: string; body: unknown }>,
    caller: Caller,
    dryRun: boolean,
  ): Promise<Array<{ object: StoredObject; action: "created" | "configured" | "unchanged" }>> {
    requireRole(caller, "operator", "apply", "resources");
    const inputs: Array<{ source: string; input: ValidInput }> = [];
    const problems: Problem[] = [];
    for (const doc of documents) {
      const result = validateInput(doc.body);
      if (result.ok) inputs.push({ source: doc.source, input: result.value });
      else
        problems.push(
          ...result.problems.map((p) => ({ path: `${doc.source}: ${p.path}`, message: p.message })),
        );
    }
    if (problems.length > 0)
      throw invalid(
        problems,
        `${documents.length === 1 ? "the document is" : "documents are"} invalid; nothing was applied`,
      );
    // What others refer to first: Locations, Regions, NetworkPools (a Location's before its Regions'), Clusters,
    // then the rest (Placements name Locations…).
    const referred = ["Location", "Region", "NetworkPool", "Cluster"];
    const order = (i: ValidInput) =>
      (referred.includes(i.kind.kind) ? referred.indexOf(i.kind.kind) : referred.length) +
      (i.kind.kind === "NetworkPool" && i.spec.region !== undefined ? 0.5 : 0);
    inputs.sort((a, b) => order(a.input) - order(b.input));
    type Applied = Array<{ object: StoredObject; action: "created" | "configured" | "unchanged" }>;
    return this.deps.store
      .write(async (tx): Promise<Applied> => {
        const results: Applied = [];
        const referenceIssues: Problem[] = [];
        for (const { source, input } of inputs) {
          referenceIssues.push(
            ...(await this.referenceIssues(tx, input)).map((p) => ({
              path: `${source}: ${p.path}`,
              message: p.message,
            })),
          );
          const current = await tx.get(input.kind.kind, input.name);
          if (current && input.resourceVersion)
            checkVersion(input.kind, input.name, input.resourceVersion, current);
          const after = this.build(input, current);
          authorizeChange(caller, "apply", input.kind, current, after);
          if (current && sameContent(current, after)) {
            results.push({ object: current, action: "unchanged" });
            continue;
          }
          const stored = await tx.put(
            input.kind.kind,
            after,
            (after.metadata.labels ?? {}) as Record<string, string>,
          );
          await audit(
            tx,
            caller,
            "apply",
            input.kind.kind,
            input.name,
            "allowed",
            undefined,
            current,
            stored,
          );
          await this.retireClusterIds(tx, caller, current, stored);
          results.push({ object: stored, action: current ? "configured" : "created" });
        }
        if (referenceIssues.length > 0)
          throw invalid(referenceIssues, "references are broken; nothing was applied");
        if (dryRun) throw new DryRun(results);
        return results;
      })
      .catch((error: unknown) => {
        if (error instanceof DryRun) return error.results as Applied;
        throw error;
      });
  }

  private validate(body: unknown, kind?: KindInfo): ValidInput {
    const result = validateInput(body);
    if (!result.ok) throw invalid(result.problems);
    if (kind && result.value.kind.kind !== kind.kind)
      throw invalid([{ path: "kind", message: `must be ${kind.kind} at this path` }]);
    return result.value;
  }

  private async current(
    tx: WriteTransaction,
    kind: KindInfo,
    name: string,
    caller: Caller,
  ): Promise<StoredObject> {
    const current = await tx.get(kind.kind, name);
    if (!current) throw notFound(kind, name);
    if (!visible(kind, current, caller)) throw outOfScope(caller, "change", kind, current);
    return current;
  }

  private async referenceIssues(tx: WriteTransaction, input: ValidInput): Promise<Problem[]> {
    const locations = new Map(
      (await tx.list("Location")).map((o) => [o.metadata.name, o as unknown as Location]),
    );
    const regions = new Map((await tx.list("Region")).map((o) => [o.metadata.name, o as unknown as Region]));
    const priceBooks =
      input.kind.kind === "PriceBook" ? ((await tx.list("PriceBook")) as unknown as PriceBook[]) : [];
    const planned = input.kind.kind === "Cluster" && input.spec.network !== undefined;
    const networkPools =
      input.kind.kind === "NetworkPool" || planned
        ? ((await tx.list("NetworkPool")) as unknown as NetworkPool[])
        : [];
    const clusters = planned ? ((await tx.list("Cluster")) as unknown as Cluster[]) : [];
    return referenceProblems(input, {
      location: (n) => locations.get(n),
      region: (n) => regions.get(n),
      priceBooks: (location) => priceBooks.filter((b) => b.spec.location === location),
      networkPools: (location) => networkPools.filter((p) => p.spec.location === location),
      clusters: (location) => clusters.filter((c) => c.spec.location === location),
      now: this.deps.now(),
    });
  }

  private async checkReferences(tx: WriteTransaction, input: ValidInput): Promise<void> {
    const problems = await this.referenceIssues(tx, input);
    if (problems.length > 0) throw invalid(problems);
  }

  /** The object to store: server-owned metadata kept from `current` (or made), generation bumped on spec change. */
  private build(input: ValidInput, current: StoredObject | undefined): StoredObject {
    const previous = current?.metadata as FleetResource["metadata"] | undefined;
    const specChanged = !current || canonicalJson(current.spec) !== canonicalJson(input.spec);
    const object: Record<string, unknown> = {
      apiVersion,
      kind: input.kind.kind,
      metadata: {
        name: input.name,
        uid: previous?.uid ?? this.deps.newUid(),
        resourceVersion: previous?.resourceVersion ?? "0",
        generation: (previous?.generation ?? 0) + (specChanged ? 1 : 0),
        creationTimestamp:
          previous?.creationTimestamp ??
          this.deps
            .now()
            .toISOString()
            .replace(/\.\d+Z$/, "Z"),
        ...(Object.keys(input.labels).length > 0 ? { labels: input.labels } : {}),
        ...(Object.keys(input.annotations).length > 0 ? { annotations: input.annotations } : {}),
        ...(previous && managedFieldsOf(current).length > 0
          ? { managedFields: managedFieldsOf(current) }
          : {}),
      },
      spec: input.spec,
    };
    if (current?.status !== undefined) object.status = current.status;
    return object as StoredObject;
  }

  /**
   * `after` with the managers of a write that is not an apply recorded (operation Update), on objects that a
   * field manager has applied server-side (others have no managedFields, and get none from plain writes).
   */
  private updatedBy(manager: string | undefined, before: StoredObject, after: StoredObject): StoredObject {
    const entries = managedFieldsOf(before);
    if (entries.length === 0) return after;
    return withManagedFields(
      after,
      recordUpdate(entries, before, after, manager ?? "unknown", apiVersion, this.timestamp()),
    );
  }

  /** Now, as Kubernetes writes times in objects: RFC 3339 to the second. */
  private timestamp(): string {
    return this.deps
      .now()
      .toISOString()
      .replace(/\.\d+Z$/, "Z");
  }

  /**
   * Runs one change: role check, the change itself inside a serialised transaction, and an audit record —
   * in the same transaction when allowed, on its own when refused.
   */
  private async mutate(
    verb: Verb,
    caller: Caller,
    kind: KindInfo | undefined,
    body: unknown,
    change: (
      tx: WriteTransaction,
      input: ValidInput,
    ) => Promise<{ before: StoredObject | undefined; after: StoredObject | undefined }>,
    dryRun = false,
    targetName?: string,
  ): Promise<StoredObject> {
    const name = nameOf(body) ?? targetName ?? "";
    const kindName = kind?.kind ?? kindOf(body);
    try {
      requireRole(caller, "operator", verb, kind?.plural ?? kindName);
      const input = body === undefined ? (undefined as unknown as ValidInput) : this.validate(body, kind);
      const kindInfo = kind ?? input?.kind;
      if (kindInfo) authorizeChange(caller, verb, kindInfo, undefined, undefined);
      const result = await this.deps.store.write(async (tx) => {
        const { before, after } = await change(tx, input);
        const target = after ?? before!;
        authorizeChange(caller, verb, kinds[target.kind as FleetResource["kind"]], before, after);
        if (input) await this.checkReferences(tx, input);
        // A change that returns the object itself changed nothing: nothing is written (a repeated apply).
        if (after !== undefined && after === before) return before;
        let stored: StoredObject;
        if (dryRun) stored = target;
        else if (after)
          stored = await tx.put(
            target.kind as string,
            after,
            (after.metadata.labels ?? {}) as Record<string, string>,
          );
        else stored = (await tx.remove(target.kind as string, target.metadata.name))!;
        if (!dryRun) {
          await audit(
            tx,
            caller,
            verb,
            target.kind as string,
            target.metadata.name,
            "allowed",
            undefined,
            before,
            after ? stored : undefined,
          );
          await this.retireClusterIds(tx, caller, before, after ? stored : undefined);
        }
        return stored;
      });
      return result;
    } catch (error) {
      if (error instanceof UserError) await this.recordRefusal(caller, verb, kindName, name || "?", error);
      throw error;
    }
  }

  /** Records in its Location's NetworkPool the cluster ID a Cluster gives up in this change, audited with it. */
  private async retireClusterIds(
    tx: WriteTransaction,
    caller: Caller,
    before: StoredObject | undefined,
    after: StoredObject | undefined,
  ): Promise<void> {
    const pool = await retireClusterId(tx, before, after, this.deps.now());
    if (pool)
      await audit(
        tx,
        caller,
        "update-status",
        "NetworkPool",
        pool.after.metadata.name,
        "allowed",
        undefined,
        pool.before,
        pool.after,
      );
  }

  /** Audits a refused change, within the per-token rate (the rest are summed up in one entry). */
  private async recordRefusal(
    caller: Caller,
    verb: string,
    kind: string,
    name: string,
    error: UserError,
  ): Promise<void> {
    const decision = this.refusals.admit(caller.name, this.deps.now().getTime());
    if (!decision.record) return;
    await this.deps.store.write(async (tx) => {
      if (decision.dropped > 0)
        await audit(
          tx,
          caller,
          "refused-summary",
          "*",
          "*",
          "refused",
          `${decision.dropped} more refused requests of this token in ${refusalWindowMs / 1000} s were not recorded one by one`,
          undefined,
          undefined,
        );
      await audit(
        tx,
        caller,
        verb,
        kind,
        name,
        "refused",
        `${error.code}: ${error.message}`,
        undefined,
        undefined,
      );
    });
  }
}

class DryRun extends Error {
  readonly results: unknown;
  constructor(results: unknown) {
    super("dry run");
    this.results = results;
  }
}

async function audit(
  tx: WriteTransaction,
  caller: Caller,
  verb: string,
  kind: string,
  name: string,
  result: "allowed" | "refused",
  reason: string | undefined,
  before: StoredObject | undefined,
  after: StoredObject | undefined,
): Promise<void> {
  await tx.audit({
    actor: caller.name,
    verb,
    kind: truncated(kind, maxAuditNameChars),
    name: truncated(name, maxAuditNameChars),
    result,
    reason: reason === undefined ? undefined : truncated(reason, maxAuditReasonChars),
    before: boundedObject(before) as StoredObject | undefined,
    after: boundedObject(after) as StoredObject | undefined,
  });
}

function nameOf(body: unknown): string | undefined {
  const name = (body as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
  return typeof name === "string" ? name : undefined;
}

function kindOf(body: unknown): string {
  const kind = (body as { kind?: unknown } | undefined)?.kind;
  return typeof kind === "string" ? kind : "?";
}

/** A store's refusal of a watch's starting point as the error Kubernetes clients expect; others unchanged. */
export function watchError(error: unknown): unknown {
  if (error instanceof WatchExpiredError) return new UserError("Expired", error.message);
  if (error instanceof ResourceVersionTooLargeError) return new UserError("Timeout", error.message);
  return error;
}

function visible(kind: KindInfo, object: StoredObject, caller: Caller): boolean {
  if (kind.kind !== "Cluster" || !caller.businesses) return true;
  const business = (object.spec as { business?: string } | undefined)?.business;
  return business !== undefined && caller.businesses.includes(business);
}

/**
 * The one check of a business scope on a change, for every verb (docs/authorization.md): a scoped token changes
 * only Clusters of its businesses, before and after the change; every other kind is read-only to it.
 */
function authorizeChange(
  caller: Caller,
  verb: string,
  kind: KindInfo,
  before: StoredObject | undefined,
  after: StoredObject | undefined,
): void {
  if (!caller.businesses) return;
  if (kind.kind !== "Cluster")
    throw new UserError(
      "Forbidden",
      `token "${caller.name}" is scoped to businesses and may not ${verb} ${kind.plural}`,
    );
  for (const object of [before, after])
    if (object && !visible(kind, object, caller)) throw outOfScope(caller, verb, kind, object);
}

function outOfScope(caller: Caller, verb: string, kind: KindInfo, object: StoredObject): UserError {
  const business = (object.spec as { business?: string } | undefined)?.business ?? "none";
  return new UserError(
    "Forbidden",
    `token "${caller.name}" may not ${verb} ${kind.plural} of business "${business}": it is scoped to ${caller.businesses?.join(", ")}`,
  );
}

function requireRole(caller: Caller, needed: "operator" | "admin", verb: string, what: string): void {
  if (!hasRole(caller, needed))
    throw new UserError(
      "Forbidden",
      `token "${caller.name}" (role ${caller.role}) may not ${verb} ${what}: it needs role ${needed}`,
    );
}

function checkVersion(
  kind: KindInfo,
  name: string,
  expected: string | undefined,
  current: StoredObject,
): void {
  if (expected && expected !== current.metadata.resourceVersion)
    throw new UserError(
      "Conflict",
      `Operation cannot be fulfilled on ${kind.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again (resourceVersion ${expected}, current ${current.metadata.resourceVersion})`,
    );
}

/** The object with these managers (none: no managedFields at all). */
function withManagedFields(object: StoredObject, entries: readonly ManagedFieldsEntry[]): StoredObject {
  const { managedFields: _, ...metadata } = object.metadata as StoredObject["metadata"] & {
    managedFields?: unknown;
  };
  return {
    ...object,
    metadata: { ...metadata, ...(entries.length > 0 ? { managedFields: entries } : {}) },
  } as StoredObject;
}

/** The object with its managers' times left out, to tell whether an apply changed anything else. */
function withoutFieldTimes(object: StoredObject): StoredObject {
  return withManagedFields(
    object,
    managedFieldsOf(object).map((e) => ({ ...e, time: "" })),
  );
}

function sameContent(current: StoredObject, next: StoredObject): boolean {
  const strip = (o: StoredObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return canonicalJson(strip(current)) === canonicalJson(strip(next));
}

async function referringTo(tx: WriteTransaction, kind: KindInfo, name: string): Promise<string[]> {
  if (kind.kind !== "Location" && kind.kind !== "Region") return [];
  const refs: string[] = [];
  for (const other of ["Region", "Cluster", "PriceBook", "NetworkPool"] as const) {
    if (other === kind.kind) continue;
    const field = kind.kind === "Location" ? "location" : "region";
    for (const o of await tx.list(other))
      if ((o.spec as Record<string, unknown>)[field] === name)
        refs.push(`${kinds[other].singular} "${o.metadata.name}"`);
  }
  for (const other of ["Placement", "Application"] as const)
    for (const o of await tx.list(other))
      if (
        placementReferences(other, o.spec as Record<string, unknown>).some(
          (r) => r.kind === kind.kind && r.name === name,
        )
      )
        refs.push(`${kinds[other].singular} "${o.metadata.name}"`);
  return refs;
}

function notFound(kind: KindInfo, name: string): UserError {
  return new UserError("NotFound", `${kind.plural} "${name}" not found`);
}

function invalid(problems: Problem[], message = "the object is invalid"): UserError {
  return new UserError("InvalidInput", message, { problems });
}
