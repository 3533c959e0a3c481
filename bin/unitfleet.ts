#!/usr/bin/env node
// The unitfleet command. Node 26 runs TypeScript directly (type stripping): no build step (docs/adr/0001).
import { enableCompileCache } from "node:module";

// Node keeps the stripped and compiled code of every module the CLI loads (in NODE_COMPILE_CACHE, or a folder
// of its own under the system's temporary directory; NODE_DISABLE_COMPILE_CACHE=1 turns it off): later calls
// skip type stripping and parsing. Enabled before the CLI is imported, so that its modules are all cached.
enableCompileCache();

// A reader that stops early (`unitfleet plan consolidation | head`) is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

// Commands load their code when they run (src/cli/main.ts): `--version` and `--help` load only the command tree.
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
