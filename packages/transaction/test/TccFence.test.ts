import { SqlClient } from "@effect/sql"
import { LibsqlClient } from "@effect/sql-libsql"
import { PgClient } from "@effect/sql-pg"
import { afterAll, describe, expect, it, layer } from "@effect/vitest"
import * as PostgresServer from "@rampart/testing/PostgresServer"
import * as Services from "@rampart/testing/Services"
import { Context, Effect, Layer, Metric, type TestServices } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as TccFence from "../src/TccFence.js"
import { BusinessFailed, type Effects, type FenceEnv, fenceSuite, type Kind } from "./support/tccFenceSuite.js"

const postgres = Services.check("postgres")

// -------------------------------------------------------------------------------------------------
// Environments
// -------------------------------------------------------------------------------------------------

const memoryEnv = Effect.gen(function*() {
  const fence = yield* TccFence.makeMemory({ name: "memory-fence" })
  const rows = new Map<string, { try: number; confirm: number; cancel: number }>()
  const env: FenceEnv = {
    fence,
    // Memory business steps must be atomic on their own: a failing one fails before it writes.
    business: (gid, branch, kind, fail) =>
      Effect.zipRight(
        Effect.yieldNow(),
        Effect.suspend(() => {
          if (fail === true) return Effect.fail(new BusinessFailed({ kind }))
          const key = `${gid}/${branch}`
          const counts = rows.get(key) ?? { try: 0, confirm: 0, cancel: 0 }
          counts[kind]++
          rows.set(key, counts)
          return Effect.void
        })
      ),
    effects: (gid, branch) => Effect.sync(() => ({ ...(rows.get(`${gid}/${branch}`) ?? { try: 0, confirm: 0, cancel: 0 }) }))
  }
  return env
})

/** SQL business steps: a row per step, written in the fence's local transaction; a failing step writes, then fails. */
const sqlEnv = (sql: SqlClient.SqlClient, name: string, pause: Effect.Effect<unknown, unknown> = Effect.void) =>
  Effect.gen(function*() {
    yield* sql`CREATE TABLE IF NOT EXISTS tcc_effects (gid TEXT NOT NULL, branch TEXT NOT NULL, kind TEXT NOT NULL)`
    const fence = yield* Effect.provideService(
      TccFence.makeSql({ name, tablePrefix: "test_" }),
      SqlClient.SqlClient,
      sql
    )
    const env: FenceEnv = {
      fence,
      business: (gid: string, branch: string, kind: Kind, fail?: boolean) =>
        sql`INSERT INTO tcc_effects (gid, branch, kind) VALUES (${gid}, ${branch}, ${kind})`.pipe(
          // Holding the local transaction open a moment lets racing steps queue on the fence row.
          Effect.zipRight(pause),
          Effect.zipRight(fail === true ? Effect.fail(new BusinessFailed({ kind })) : Effect.void)
        ),
      effects: (gid, branch) =>
        Effect.map(
          sql<{ kind: string; n: number | string }>`SELECT kind, COUNT(*) AS n FROM tcc_effects
            WHERE gid = ${gid} AND branch = ${branch} GROUP BY kind`,
          (rows) => {
            const counts: { -readonly [K in keyof Effects]: number } = { try: 0, confirm: 0, cancel: 0 }
            for (const row of rows) {
              if (row.kind === "try" || row.kind === "confirm" || row.kind === "cancel") counts[row.kind] = Number(row.n)
            }
            return counts
          }
        )
    }
    return env
  })

const clientOf = <E>(layer: Layer.Layer<SqlClient.SqlClient, E>) =>
  Effect.map(Layer.build(layer), (context) => Context.get(context, SqlClient.SqlClient))

// -------------------------------------------------------------------------------------------------
// Suites
// -------------------------------------------------------------------------------------------------

describe("TccFence (memory)", () => {
  fenceSuite<TestServices.TestServices>({
    test: (name, self) => it.effect(name, self),
    prop: (name, arbitrary, self, numRuns) =>
      it.effect.prop(name, [arbitrary], ([value]) => self(value), { fastCheck: { numRuns } }),
    withEnv: (f) => Effect.flatMap(memoryEnv, f),
    races: 50,
    propRuns: 150
  })

  it.effect("counts empty rollbacks, suspensions, duplicates and conflicts in rampart_tcc_fence_total", () =>
    Effect.gen(function*() {
      const fence = yield* TccFence.makeMemory({ name: "counted-fence" })
      const value = (outcome: string) =>
        Effect.map(
          Metric.value(Metric.counter("rampart_tcc_fence_total", {
            description: "TCC fence decisions: applied, duplicate, empty_rollback, suspended, conflict",
            incremental: true
          }).pipe(
            Metric.tagged("name", "counted-fence"),
            Metric.tagged("outcome", outcome)
          )),
          (state) => state.count
        )
      yield* fence.cancel("g1", "b", Effect.void)
      yield* Effect.flip(fence.try("g1", "b", Effect.void))
      yield* fence.cancel("g1", "b", Effect.void)
      yield* Effect.flip(fence.confirm("g1", "b", Effect.void))
      yield* fence.try("g2", "b", Effect.void)
      expect(yield* value("empty_rollback")).toBe(1)
      expect(yield* value("suspended")).toBe(1)
      expect(yield* value("duplicate")).toBe(1)
      expect(yield* value("conflict")).toBe(1)
      expect(yield* value("applied")).toBe(1)
    }))

  it.effect("makeMemory fails with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(TccFence.makeMemory({ name: "" }))
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("name")
      expect(TccFence.isTccFence(yield* TccFence.makeMemory({ name: "x" }))).toBe(true)
      expect(TccFence.isTccFence({})).toBe(false)
    }))
})

describe("TccFence (SQLite through libsql)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rampart-tccfence-"))
  const file = path.join(dir, "fence.db")
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))
  fenceSuite<never>({
    test: (name, self) => it.live(name, self),
    prop: (name, arbitrary, self, numRuns) =>
      it.live.prop(name, [arbitrary], ([value]) => self(value), { fastCheck: { numRuns } }),
    withEnv: (f) =>
      Effect.scoped(Effect.flatMap(clientOf(LibsqlClient.layer({ url: `file:${file}` })), (sql) =>
        Effect.flatMap(sqlEnv(sql, "sqlite-fence"), f))),
    races: 10,
    propRuns: 30
  })

  it.effect("makeSql fails with InvalidOptions naming tablePrefix", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Effect.flatMap(clientOf(LibsqlClient.layer({ url: `file:${file}` })), (sql) =>
          Effect.provideService(TccFence.makeSql({ name: "x", tablePrefix: "bad prefix;" }), SqlClient.SqlClient, sql)))
      )
      expect(error._tag).toBe("InvalidOptions")
      expect(error.message).toContain("tablePrefix")
      expect(TccFence.tableName("shop_")).toBe("shop_tcc_fence")
    }))
})

describe.skipIf(!postgres.available)("TccFence (real PostgreSQL)", () => {
  layer(PostgresServer.layer(), { timeout: 60_000 })((it) => {
    let ready = false
    fenceSuite<PostgresServer.Tag | TestServices.TestServices>({
      test: (name, self) => it.effect(name, self),
      prop: (name, arbitrary, self, numRuns) =>
        it.effect.prop(name, [arbitrary], ([value]) => self(value), { fastCheck: { numRuns } }),
      withEnv: (f) =>
        Effect.scoped(Effect.gen(function*() {
          const pg = yield* PostgresServer.Tag
          if (!ready) {
            yield* pg.createDatabase("tccfence")
            ready = true
          }
          const sql = yield* clientOf(
            PgClient.layer({ host: "127.0.0.1", port: pg.port, username: "postgres", database: "tccfence", maxConnections: 6 })
          )
          return yield* Effect.flatMap(sqlEnv(sql, "pg-fence", sql`SELECT pg_sleep(0.002)`), f)
        })),
      races: 25,
      propRuns: 25
    })
  })
})
