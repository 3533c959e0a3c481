/**
 * What an agent does with a command from the hub: check its deadline, run it once per idempotency key against
 * the cluster's API server, and answer with its output (pod logs, as `logs.chunk` user content) and then its
 * result. A command that arrives again — resent after a reconnect or a hub restart — is answered from memory
 * without running again.
 */
import { CoreV1Api, type KubeConfig, VersionApi } from "@kubernetes/client-node";
import type { MessageBody, MessageType } from "../../protocol/messages.ts";
import { IdempotencyCache } from "../../protocol/session.ts";
import { apiErrorMessage } from "../kube/api-error.ts";

type Outcome = Pick<MessageBody<"command.result">, "outcome" | "message"> & { output?: string };

/** Logs larger than this are cut (the newest part is kept: `tailLines` and the API's `limitBytes`). */
const maxLogBytes = 4 * 1024 * 1024;
const chunkBytes = 256 * 1024;

export interface CommandRunner {
  handle(command: MessageBody<"command">): Promise<void>;
  /** Commands actually run (not answered from memory): tests and metrics read it. */
  readonly runs: number;
}

export function commandRunner(
  kc: KubeConfig,
  cluster: string,
  send: <T extends MessageType>(type: T, body: MessageBody<T>) => void,
  log: (entry: Record<string, unknown>) => void,
): CommandRunner {
  const cache = new IdempotencyCache<Outcome>();
  let runs = 0;

  const run = async (action: MessageBody<"command">["action"]): Promise<Outcome> => {
    runs += 1;
    const started = performance.now();
    try {
      if (action.type === "ping") {
        const version = await kc.makeApiClient(VersionApi).getCode();
        return {
          outcome: "succeeded",
          message: `${cluster} answered: Kubernetes ${version.gitVersion}, in ${Math.round(performance.now() - started)} ms`,
        };
      }
      const text = await kc.makeApiClient(CoreV1Api).readNamespacedPodLog({
        name: action.pod,
        namespace: action.namespace,
        ...(action.container ? { container: action.container } : {}),
        ...(action.tailLines ? { tailLines: action.tailLines } : {}),
        limitBytes: maxLogBytes,
      });
      const lines = text === "" ? 0 : text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
      return { outcome: "succeeded", message: `${lines} lines`, output: text };
    } catch (error) {
      return { outcome: "failed", message: apiErrorMessage(error) };
    }
  };

  return {
    get runs() {
      return runs;
    },
    async handle(command) {
      const key = command.idempotencyKey;
      if (command.deadline < Date.now()) {
        send("command.result", {
          idempotencyKey: key,
          outcome: "expired",
          message: "arrived after its deadline",
        });
        return;
      }
      const { result, replayed } = await cache.once(key, Date.now(), () => run(command.action));
      log({
        level: "info",
        msg: "command",
        key,
        action: command.action.type,
        outcome: result.outcome,
        replayed,
      });
      if (result.output !== undefined) {
        const output = result.output;
        for (let at = 0; at < output.length || at === 0; at += chunkBytes) {
          send("logs.chunk", {
            cluster,
            command: key,
            data: output.slice(at, at + chunkBytes),
            last: at + chunkBytes >= output.length,
          });
          if (output.length === 0) break;
        }
      }
      send("command.result", {
        idempotencyKey: key,
        outcome: result.outcome,
        ...(result.message ? { message: result.message } : {}),
      });
    },
  };
}
