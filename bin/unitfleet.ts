#!/usr/bin/env node
// The unitfleet command. Node 26 runs TypeScript directly (type stripping): no build step (docs/adr/0001).
import { main } from "../src/cli/main.ts";

// A reader that stops early (`unitfleet plan consolidation | head`) is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2));
