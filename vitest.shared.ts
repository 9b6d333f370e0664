import { defineProject } from "vitest/config"

/**
 * Settings every test project shares: run from TypeScript source (the `source` export
 * condition), so `npm test` needs no build.
 */
export const sharedProject = (name: string) =>
  defineProject({
    resolve: { conditions: ["source"] },
    test: {
      name,
      include: ["test/**/*.test.ts"],
      testTimeout: 30_000,
      hookTimeout: 60_000
    }
  })
