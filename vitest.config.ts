import { defineConfig } from "vitest/config";

// Two projects: `unit` runs pure and in-process tests in parallel; `e2e` runs against one shared lab of real
// Kubernetes control planes (started once by test/e2e/global-setup.ts, torn down at the end), one file at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["src/**/*.test.ts", "test/integration/**/*.test.ts"],
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
