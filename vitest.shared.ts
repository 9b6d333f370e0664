import { defineProject } from "vitest/config"

/**
 * Settings every test project shares: workspace packages resolve to their TypeScript source
 * through the `source` export condition, so `npm test` needs no build. Tests run in Vite's SSR
 * environment, whose conditions are set apart from the client's; both lists keep Vite's defaults.
 */
const conditions = ["source", "module", "node", "development|production"]

export const sharedProject = (name: string) =>
  defineProject({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ["source"] } },
    test: {
      name,
      include: ["test/**/*.test.ts"],
      testTimeout: 30_000,
      hookTimeout: 60_000
    }
  })
