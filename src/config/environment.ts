/**
 * The one place that reads `process.env`. Everything else receives these values as arguments.
 */
import { homedir } from "node:os";
import { join } from "node:path";

export interface Environment {
  /** unitfleet's home: lab state, hub data, CLI config. `$UNITFLEET_HOME`, default `~/.unitfleet`. */
  home: string;
  /** Root of caches kept across clones: `$XDG_CACHE_HOME/unitfleet`, default `~/.cache/unitfleet`. */
  cacheRoot: string;
  /** True under CI (`CI=true`): a missing prerequisite fails instead of being skipped. */
  ci: boolean;
  /** The variables child processes (go, the lab's components) inherit. */
  inherited: Readonly<Record<string, string>>;
}

/** Reads the environment once; the result is frozen. */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  const userHome = env.HOME ?? homedir();
  const inherited: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) inherited[key] = value;
  return Object.freeze({
    home: env.UNITFLEET_HOME || join(userHome, ".unitfleet"),
    cacheRoot: join(env.XDG_CACHE_HOME || join(userHome, ".cache"), "unitfleet"),
    ci: env.CI === "true" || env.CI === "1",
    inherited: Object.freeze(inherited),
  });
}
