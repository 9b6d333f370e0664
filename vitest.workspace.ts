/**
 * The list of test projects: one per package, plus the examples.
 * `vitest.config.ts` imports this list into `test.projects` (the workspace file on its own is
 * deprecated since vitest 3.2).
 */
export default [
  "packages/core",
  "packages/resilience",
  "packages/balancing",
  "packages/cache",
  "packages/transaction",
  "packages/discovery",
  "packages/testing",
  "examples"
]
