#!/usr/bin/env node
// The unitfleet command. Node 26 runs TypeScript directly (type stripping): no build step (docs/adr/0001).
import { main } from "../src/cli/main.ts";

process.exitCode = await main(process.argv.slice(2));
