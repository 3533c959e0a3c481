/**
 * The one place that reads `process.env`. Everything else receives these values as arguments.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { UserError } from "../errors/user-error.ts";

export interface Environment {
  /** unitfleet's home: lab state, hub data, CLI config. `$UNITFLEET_HOME`, default `~/.unitfleet`. */
  home: string;
  /** Root of caches kept across clones: `$XDG_CACHE_HOME/unitfleet`, default `~/.cache/unitfleet`. */
  cacheRoot: string;
  /** True under CI (`CI=true`): a missing prerequisite fails instead of being skipped. */
  ci: boolean;
  /**
   * How much faster than real time the agents' metering runs (`$UNITFLEET_METERING_TIME_SCALE`, default 1): 60
   * makes a metering hour, and its minute samples, pass in a real minute. For compressed-time tests and demos
   * only: the hours are labelled in the faster time, which runs ahead of the real one.
   */
  meteringTimeScale: number;
  /** The variables child processes (go, the lab's components) inherit. */
  inherited: Readonly<Record<string, string>>;
}

/** Reads the environment once; the result is frozen. A variable that cannot be read is a `UserError`. */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  const userHome = env.HOME ?? homedir();
  const inherited: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) inherited[key] = value;
  const scaleText = env.UNITFLEET_METERING_TIME_SCALE;
  const meteringTimeScale = scaleText ? Number(scaleText) : 1;
  if (!Number.isFinite(meteringTimeScale) || meteringTimeScale < 1 || meteringTimeScale > 3600)
    throw new UserError("BadRequest", "an environment variable is not valid", {
      problems: [
        {
          path: "UNITFLEET_METERING_TIME_SCALE",
          message: `must be a number from 1 to 3600, got ${JSON.stringify(scaleText)}`,
        },
      ],
    });
  return Object.freeze({
    home: env.UNITFLEET_HOME || join(userHome, ".unitfleet"),
    cacheRoot: join(env.XDG_CACHE_HOME || join(userHome, ".cache"), "unitfleet"),
    ci: env.CI === "true" || env.CI === "1",
    meteringTimeScale,
    inherited: Object.freeze(inherited),
  });
}
