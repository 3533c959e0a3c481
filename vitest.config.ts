import { defineConfig } from "vitest/config";

// Three projects: `unit` runs the fast tests beside the code (`npm run test:unit`); `integration` runs
// test/integration (spawned processes, PostgreSQL, hubs on ports), both in parallel; `e2e` runs against one shared
// lab of real Kubernetes control planes (started once by test/e2e/global-setup.ts, torn down at the end), one file
// at a time. `npm test` runs all three.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
