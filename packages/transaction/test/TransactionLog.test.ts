import { SqlClient } from "@effect/sql"
import { LibsqlClient } from "@effect/sql-libsql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it, layer, type Vitest } from "@effect/vitest"
import * as PostgresServer from "@rampart/testing/PostgresServer"
import * as Services from "@rampart/testing/Services"
import {
  Clock,
  Context,
  Effect,
  Either,
  Exit,
  FastCheck,
  Layer,
  Option,
  Redacted,
  Schedule,
  Scope,
  TestClock,
  TestServices
} from "effect"
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as TransactionLog from "../src/TransactionLog.js"

type Log = TransactionLog.TransactionLog

let prefixes = 0
/** Each test (and property run) gets tables of its own in the shared file or database. */
const nextPrefix = () => `t${process.pid}_${++prefixes}_`

const begin = (gid: string, overrides: Partial<TransactionLog.BeginInput> = {}): TransactionLog.BeginInput => ({
  gid,
  protocol: "2pc",
  coordinator: "c1",
  participants: ["a", "b"],
  payload: { amount: 10 },
  ...overrides
})

const getOrFail = (log: TransactionLog.Service, gid: string) =>
  Effect.flatMap(log.get(gid), (record) =>
    Option.match(record, {
      onNone: () => Effect.dieMessage(`${gid} is not in the log`),
      onSome: Effect.succeed
    }))

// ---------------------------------------------------------------------------------------------
// A tiny model of the log, for the model-based property
// ---------------------------------------------------------------------------------------------

type Command =
  | { readonly _tag: "begin"; readonly gid: number; readonly protocol: TransactionLog.Protocol; readonly coordinator: number }
  | { readonly _tag: "append"; readonly gid: number; readonly kind: string; readonly data: unknown }
  | { readonly _tag: "decide"; readonly gid: number; readonly decision: TransactionLog.Decision }
  | { readonly _tag: "finish"; readonly gid: number }
  | { readonly _tag: "prune"; readonly age: number }
  | { readonly _tag: "tick"; readonly millis: number }

const gidIndex = FastCheck.integer({ min: 0, max: 4 })
const json = FastCheck.oneof(
  FastCheck.constant(null),
  FastCheck.integer(),
  FastCheck.string({ maxLength: 8 }),
  FastCheck.array(FastCheck.boolean(), { maxLength: 3 }),
  FastCheck.record({ k: FastCheck.string({ maxLength: 4 }) })
)
const command: FastCheck.Arbitrary<Command> = FastCheck.oneof(
  FastCheck.record({
    _tag: FastCheck.constant("begin" as const),
    gid: gidIndex,
    protocol: FastCheck.constantFrom("2pc" as const, "3pc" as const, "saga" as const, "tcc" as const),
    coordinator: FastCheck.integer({ min: 0, max: 1 })
  }),
  FastCheck.record({
    _tag: FastCheck.constant("append" as const),
    gid: gidIndex,
    kind: FastCheck.constantFrom("prepared", "step", "ack"),
    data: json
  }),
  FastCheck.record({
    _tag: FastCheck.constant("decide" as const),
    gid: gidIndex,
    decision: FastCheck.constantFrom("commit" as const, "abort" as const)
  }),
  FastCheck.record({ _tag: FastCheck.constant("finish" as const), gid: gidIndex }),
  FastCheck.record({ _tag: FastCheck.constant("prune" as const), age: FastCheck.integer({ min: 0, max: 6 }) }),
  FastCheck.record({ _tag: FastCheck.constant("tick" as const), millis: FastCheck.integer({ min: 0, max: 3 }) })
)

interface ModelRecord {
  gid: string
  protocol: TransactionLog.Protocol
  coordinator: string
  decision: TransactionLog.Decision | undefined
  finished: boolean
  entries: Array<TransactionLog.Entry>
  createdAt: number
  updatedAt: number
}

const toModelView = (r: TransactionLog.TransactionRecord | ModelRecord) => ({
  gid: r.gid,
  protocol: r.protocol,
  coordinator: r.coordinator,
  decision: r.decision,
  finished: r.finished,
  entries: r.entries.map((e) => ({ seq: e.seq, kind: e.kind, data: e.data, at: e.at })),
  createdAt: r.createdAt,
  updatedAt: r.updatedAt
})

/** Runs one command against the model and the log; returns both outcomes, comparable. */
const step = (log: TransactionLog.Service, model: Map<string, ModelRecord>, now: number, c: Command) => {
  const outcome = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
    Effect.map(Effect.either(effect), Either.match({ onLeft: (e) => ({ error: e._tag }), onRight: (ok) => ({ ok }) }))
  switch (c._tag) {
    case "begin": {
      const gid = `g${c.gid}`
      let expected: unknown
      if (model.has(gid)) expected = { error: "DuplicateTransaction" }
      else {
        model.set(gid, {
          gid,
          protocol: c.protocol,
          coordinator: `c${c.coordinator}`,
          decision: undefined,
          finished: false,
          entries: [],
          createdAt: now,
          updatedAt: now
        })
        expected = { ok: undefined }
      }
      return Effect.map(
        outcome(log.begin(begin(gid, { protocol: c.protocol, coordinator: `c${c.coordinator}` }))),
        (actual) => [actual, expected]
      )
    }
    case "append": {
      const gid = `g${c.gid}`
      const record = model.get(gid)
      let expected: unknown = { error: "TransactionNotFound" }
      if (record !== undefined) {
        const seq = record.entries.length + 1
        record.entries.push({ seq, kind: c.kind, data: c.data, at: now })
        record.updatedAt = now
        expected = { ok: seq }
      }
      return Effect.map(outcome(log.append(gid, c.kind, c.data)), (actual) => [actual, expected])
    }
    case "decide": {
      const gid = `g${c.gid}`
      const record = model.get(gid)
      let expected: unknown = { error: "TransactionNotFound" }
      if (record !== undefined) {
        if (record.decision === undefined) {
          record.decision = c.decision
          record.updatedAt = now
        }
        expected = { ok: record.decision }
      }
      return Effect.map(outcome(log.decide(gid, c.decision)), (actual) => [actual, expected])
    }
    case "finish": {
      const gid = `g${c.gid}`
      const record = model.get(gid)
      let expected: unknown = { error: "TransactionNotFound" }
      if (record !== undefined) {
        if (!record.finished) {
          record.finished = true
          record.updatedAt = now
        }
        expected = { ok: undefined }
      }
      return Effect.map(outcome(log.finish(gid)), (actual) => [actual, expected])
    }
    case "prune": {
      const before = now - c.age
      let n = 0
      for (const [gid, record] of model) {
        if (record.finished && record.updatedAt < before) {
          model.delete(gid)
          n++
        }
      }
      return Effect.map(outcome(log.prune(before)), (actual) => [actual, { ok: n }])
    }
    case "tick":
      return Effect.as(TestClock.adjust(c.millis), [{ ok: undefined }, { ok: undefined }])
  }
}

// ---------------------------------------------------------------------------------------------
// The suite every backend passes
// ---------------------------------------------------------------------------------------------

const logSuite = <E, R>(
  it: Vitest.MethodsNonLive<R>,
  fresh: () => Layer.Layer<Log, E, R>,
  options: { readonly propRuns: number }
) => {
  const withLog = <A, E2, R2>(body: (log: TransactionLog.Service) => Effect.Effect<A, E2, R2>) =>
    Effect.flatMap(TransactionLog.TransactionLog, body).pipe(Effect.provide(fresh()))

  it.effect("begin records a transaction with no decision, no entries, not finished, stamped from Clock", () =>
    withLog((log) =>
      Effect.gen(function*() {
        const t0 = yield* Clock.currentTimeMillis
        yield* TestClock.adjust(1234)
        yield* log.begin(begin("g1", { protocol: "saga", coordinator: "orders", participants: ["x", "y", "z"] }))
        const record = yield* getOrFail(log, "g1")
        expect(record).toEqual({
          gid: "g1",
          protocol: "saga",
          coordinator: "orders",
          participants: ["x", "y", "z"],
          payload: { amount: 10 },
          decision: undefined,
          finished: false,
          entries: [],
          createdAt: t0 + 1234,
          updatedAt: t0 + 1234
        })
      })
    ))

  it.effect("begin of a gid already logged fails with DuplicateTransaction and keeps the first record", () =>
    withLog((log) =>
      Effect.gen(function*() {
        yield* log.begin(begin("g1", { coordinator: "first" }))
        const error = yield* Effect.flip(log.begin(begin("g1", { coordinator: "second" })))
        expect(error).toMatchObject({ _tag: "DuplicateTransaction", gid: "g1" })
        expect((yield* getOrFail(log, "g1")).coordinator).toBe("first")
      })
    ))

  it.effect("20 concurrent begins of one gid: exactly one succeeds, the others get DuplicateTransaction", () =>
    withLog((log) =>
      Effect.gen(function*() {
        const results = yield* Effect.all(
          Array.from({ length: 20 }, (_, i) => Effect.either(log.begin(begin("g1", { coordinator: `c${i}` })))),
          { concurrency: "unbounded" }
        )
        expect(results.filter(Either.isRight)).toHaveLength(1)
        for (const result of results.filter(Either.isLeft)) expect(result.left._tag).toBe("DuplicateTransaction")
      })
    ))

  it.effect("append numbers entries from 1 in order; get returns them with their data and time", () =>
    withLog((log) =>
      Effect.gen(function*() {
        const t0 = yield* Clock.currentTimeMillis
        yield* log.begin(begin("g1"))
        yield* TestClock.adjust(5)
        expect(yield* log.append("g1", "prepared", { participant: "a" })).toBe(1)
        yield* TestClock.adjust(5)
        expect(yield* log.append("g1", "prepared", { participant: "b" })).toBe(2)
        expect(yield* log.append("g1", "note")).toBe(3)
        const record = yield* getOrFail(log, "g1")
        expect(record.entries).toEqual([
          { seq: 1, kind: "prepared", data: { participant: "a" }, at: t0 + 5 },
          { seq: 2, kind: "prepared", data: { participant: "b" }, at: t0 + 10 },
          { seq: 3, kind: "note", data: null, at: t0 + 10 }
        ])
        expect(record.updatedAt).toBe(t0 + 10)
      })
    ))

  it.effect("100 concurrent appends to one gid get the distinct seqs 1..100 and all are logged", () =>
    withLog((log) =>
      Effect.gen(function*() {
        yield* log.begin(begin("g1"))
        const seqs = yield* Effect.all(
          Array.from({ length: 100 }, (_, i) => log.append("g1", "step", i)),
          { concurrency: "unbounded" }
        )
        expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
        const record = yield* getOrFail(log, "g1")
        expect(record.entries.map((e) => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
        // Each append's data is at the seq it was given.
        for (const [i, seq] of seqs.entries()) expect(record.entries[seq - 1]?.data).toBe(i)
      })
    ))

  it.effect("decide: the first decision stands and every later decide returns it", () =>
    withLog((log) =>
      Effect.gen(function*() {
        const t0 = yield* Clock.currentTimeMillis
        yield* log.begin(begin("g1"))
        yield* TestClock.adjust(7)
        expect(yield* log.decide("g1", "abort")).toBe("abort")
        yield* TestClock.adjust(7)
        expect(yield* log.decide("g1", "commit")).toBe("abort")
        expect(yield* log.decide("g1", "abort")).toBe("abort")
        const record = yield* getOrFail(log, "g1")
        expect(record.decision).toBe("abort")
        expect(record.updatedAt).toBe(t0 + 7)
      })
    ))

  it.effect("50 concurrent decides with mixed decisions all get back the one decision that stands", () =>
    withLog((log) =>
      Effect.gen(function*() {
        yield* Effect.forEach(["g1", "g2", "g3"], (gid) => log.begin(begin(gid)))
        for (const gid of ["g1", "g2", "g3"]) {
          const answers = yield* Effect.all(
            Array.from({ length: 50 }, (_, i) => log.decide(gid, i % 2 === 0 ? "commit" : "abort")),
            { concurrency: "unbounded" }
          )
          const standing = (yield* getOrFail(log, gid)).decision
          expect(standing).toBeDefined()
          expect(new Set(answers)).toEqual(new Set([standing]))
        }
      })
    ))

  it.effect("finish is idempotent: it keeps the time of the first finish", () =>
    withLog((log) =>
      Effect.gen(function*() {
        const t0 = yield* Clock.currentTimeMillis
        yield* log.begin(begin("g1"))
        yield* log.decide("g1", "commit")
        yield* TestClock.adjust(10)
        yield* log.finish("g1")
        yield* TestClock.adjust(10)
        yield* log.finish("g1")
        const record = yield* getOrFail(log, "g1")
        expect(record.finished).toBe(true)
        expect(record.decision).toBe("commit")
        expect(record.updatedAt).toBe(t0 + 10)
      })
    ))

  it.effect("active lists unfinished transactions oldest first (ties in begin order), filtered", () =>
    withLog((log) =>
      Effect.gen(function*() {
        const t0 = yield* Clock.currentTimeMillis
        yield* log.begin(begin("late", { protocol: "saga", coordinator: "c2" }))
        yield* log.begin(begin("tie-b", { protocol: "2pc", coordinator: "c1" }))
        yield* TestClock.adjust(1)
        yield* log.begin(begin("done", { protocol: "2pc", coordinator: "c1" }))
        yield* log.begin(begin("next", { protocol: "2pc", coordinator: "c2" }))
        yield* log.finish("done")
        yield* log.append("next", "k", 1)
        const gids = (records: ReadonlyArray<TransactionLog.TransactionRecord>) => records.map((r) => r.gid)
        expect(gids(yield* log.active())).toEqual(["late", "tie-b", "next"])
        expect(gids(yield* log.active({ protocol: "2pc" }))).toEqual(["tie-b", "next"])
        expect(gids(yield* log.active({ coordinator: "c2" }))).toEqual(["late", "next"])
        expect(gids(yield* log.active({ protocol: "2pc", coordinator: "c2" }))).toEqual(["next"])
        expect(gids(yield* log.active({ protocol: "tcc" }))).toEqual([])
        const next = (yield* log.active({ coordinator: "c2" }))[1]
        expect(next?.entries).toEqual([{ seq: 1, kind: "k", data: 1, at: t0 + 1 }])
      })
    ))

  it.effect("prune deletes finished transactions last updated before the cutoff, entries included", () =>
    withLog((log) =>
      Effect.gen(function*() {
        const t0 = yield* Clock.currentTimeMillis
        yield* Effect.forEach(["old", "recent", "open"], (gid) => log.begin(begin(gid)))
        yield* log.append("old", "k", 1)
        yield* log.finish("old")
        yield* TestClock.adjust(100)
        yield* log.finish("recent")
        expect(yield* log.prune(t0 + 100)).toBe(1)
        expect(yield* log.get("old")).toEqual(Option.none())
        expect(Option.isSome(yield* log.get("recent"))).toBe(true)
        expect(yield* log.prune(t0 + 101)).toBe(1)
        expect(yield* log.prune(t0 + 1_000_000)).toBe(0)
        yield* log.begin(begin("done"))
        yield* log.finish("done")
        expect(yield* log.prune(Number.NaN)).toBe(0)
        expect(yield* log.prune(Number.NEGATIVE_INFINITY)).toBe(0)
        expect(yield* log.prune(Number.POSITIVE_INFINITY)).toBe(1)
        expect((yield* log.active()).map((r) => r.gid)).toEqual(["open"])
        // The gid is free again, with no stale entries.
        yield* log.begin(begin("old"))
        expect((yield* getOrFail(log, "old")).entries).toEqual([])
        expect(yield* log.append("old", "k", 2)).toBe(1)
      })
    ))

  it.effect("an unknown gid: append, decide and finish fail with TransactionNotFound; get gives none", () =>
    withLog((log) =>
      Effect.gen(function*() {
        expect(yield* Effect.flip(log.append("nope", "k"))).toMatchObject({ _tag: "TransactionNotFound", gid: "nope" })
        expect(yield* Effect.flip(log.decide("nope", "commit"))).toMatchObject({ _tag: "TransactionNotFound" })
        expect(yield* Effect.flip(log.finish("nope"))).toMatchObject({ _tag: "TransactionNotFound" })
        expect(yield* log.get("nope")).toEqual(Option.none())
      })
    ))

  it.effect("a value that is not JSON fails with TransactionLogError naming the operation and logs nothing", () =>
    withLog((log) =>
      Effect.gen(function*() {
        const circular: Record<string, unknown> = {}
        circular.self = circular
        for (const payload of [10n, circular, () => 1, Symbol("s")]) {
          const error = yield* Effect.flip(log.begin(begin("g1", { payload })))
          expect(error).toMatchObject({ _tag: "TransactionLogError", operation: "begin", gid: "g1" })
        }
        expect(yield* log.get("g1")).toEqual(Option.none())
        yield* log.begin(begin("g1"))
        const error = yield* Effect.flip(log.append("g1", "k", { n: 1n }))
        expect(error).toMatchObject({ _tag: "TransactionLogError", operation: "append", gid: "g1" })
        expect((yield* getOrFail(log, "g1")).entries).toEqual([])
      })
    ))

  it.effect("payloads and entry data round-trip as JSON (quotes, unicode, nesting, undefined as null)", () =>
    withLog((log) =>
      Effect.gen(function*() {
        const payload = { s: "it's \"quoted\" ; DROP TABLE x; --", u: "zürich ✓ 😀", n: [1, 2.5, -3], o: { a: null } }
        yield* log.begin(begin("g1", { payload, participants: ["p'1", "p\"2"] }))
        yield* log.append("g1", "k'ind", payload)
        yield* log.append("g1", "k", undefined)
        yield* log.begin({ gid: "g2", protocol: "tcc", coordinator: "c", participants: [] })
        const record = yield* getOrFail(log, "g1")
        expect(record.payload).toEqual(payload)
        expect(record.participants).toEqual(["p'1", "p\"2"])
        expect(record.entries.map((e) => [e.kind, e.data])).toEqual([["k'ind", payload], ["k", null]])
        expect((yield* getOrFail(log, "g2")).payload).toBeNull()
      })
    ))

  it.effect.prop(
    "behaves like a tiny model under random begin/append/decide/finish/prune sequences",
    [FastCheck.array(command, { minLength: 1, maxLength: 25 })],
    ([commands]) =>
      withLog((log) =>
        Effect.gen(function*() {
          const model = new Map<string, ModelRecord>()
          let now = yield* Clock.currentTimeMillis
          for (const c of commands) {
            const [actual, expected] = yield* step(log, model, now, c)
            expect(actual, JSON.stringify(c)).toEqual(expected)
            if (c._tag === "tick") now += c.millis
            const active = yield* log.active()
            const expectedActive = [...model.values()].filter((r) => !r.finished)
            expect(active.map((r) => r.gid).sort()).toEqual(expectedActive.map((r) => r.gid).sort())
            expect(active.map((r) => r.createdAt)).toEqual(active.map((r) => r.createdAt).sort((a, b) => a - b))
          }
          for (let i = 0; i <= 4; i++) {
            const gid = `g${i}`
            const record = yield* log.get(gid)
            const expected = model.get(gid)
            expect(Option.map(record, toModelView)).toEqual(
              expected === undefined ? Option.none() : Option.some(toModelView(expected))
            )
          }
        })
      ),
    { timeout: 120_000, fastCheck: { numRuns: options.propRuns } }
  )
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

describe("TransactionLog (memory)", () => {
  logSuite(it, () => TransactionLog.layerMemory, { propRuns: 50 })
})

// ---------------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------------

class TempDir extends Context.Tag("test/TempDir")<TempDir, string>() {}
const tempDirLayer = Layer.scoped(
  TempDir,
  Effect.acquireRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "rampart-txlog-"))),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )
)

const sqliteFile = (dir: string) => Path.join(dir, "log.db")

/** A libsql client of the test's own on the log's file, to look at (or damage) what the log wrote. */
const rawSqlite = (filename: string) => LibsqlClient.layer({ url: `file:${filename}` })

describe("TransactionLog (SQLite file)", () => {
  layer(tempDirLayer)((it) => {
    logSuite(
      it,
      () =>
        Layer.unwrapEffect(
          Effect.map(TempDir, (dir) => TransactionLog.layerSqlite({ filename: sqliteFile(dir), tablePrefix: nextPrefix() }))
        ),
      { propRuns: 50 }
    )

    it.effect("everything acknowledged is still there after the log is closed and the file reopened", () =>
      Effect.gen(function*() {
        const dir = yield* TempDir
        const options = { filename: Path.join(dir, "durable.db"), tablePrefix: "durable_" }
        const t0 = yield* Clock.currentTimeMillis
        const scope = yield* Scope.make()
        const first = yield* Scope.extend(TransactionLog.makeSqlite(options), scope)
        yield* TestClock.adjust(50)
        yield* first.begin(begin("committed", { payload: { to: "bob" } }))
        yield* first.append("committed", "prepared", { participant: "a" })
        yield* first.decide("committed", "commit")
        yield* first.finish("committed")
        yield* first.begin(begin("aborting", { protocol: "saga" }))
        yield* first.decide("aborting", "abort")
        yield* first.begin(begin("open", { protocol: "tcc" }))
        const before = [yield* first.get("committed"), yield* first.get("aborting"), yield* first.get("open")]
        yield* Scope.close(scope, Exit.void)

        const second = yield* TransactionLog.makeSqlite(options)
        const after = [yield* second.get("committed"), yield* second.get("aborting"), yield* second.get("open")]
        expect(after).toEqual(before)
        expect(Option.getOrThrow(after[0]!)).toMatchObject({ decision: "commit", finished: true, createdAt: t0 + 50 })
        expect((yield* second.active()).map((r) => r.gid)).toEqual(["aborting", "open"])
        // The decision is still the fence after the restart.
        expect(yield* second.decide("aborting", "commit")).toBe("abort")
        expect(yield* second.append("committed", "late", null)).toBe(2)
      }).pipe(Effect.scoped))

    it.effect("opens the file in WAL mode and keeps one connection (no descriptor per operation)", () =>
      Effect.gen(function*() {
        const dir = yield* TempDir
        const filename = Path.join(dir, "wal.db")
        const log = yield* TransactionLog.makeSqlite({ filename })
        const descriptors = () => Fs.readdirSync("/proc/self/fd").length
        yield* log.begin(begin("g1"))
        const start = descriptors()
        for (let i = 0; i < 200; i++) yield* log.append("g1", "k", i)
        yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => i), (i) => log.append("g1", "k", i), {
          concurrency: "unbounded"
        })
        expect(descriptors() - start).toBeLessThan(5)
        const mode = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql`PRAGMA journal_mode`).pipe(
          Effect.provide(rawSqlite(filename))
        )
        expect(mode).toEqual([{ journal_mode: "wal" }])
      }).pipe(Effect.scoped), { skip: !Fs.existsSync("/proc/self/fd") })

    it.effect("two logs on one file in one process take turns: concurrent work on both is all logged", () =>
      Effect.gen(function*() {
        const dir = yield* TempDir
        const filename = Path.join(dir, "two.db")
        const a = yield* TransactionLog.makeSqlite({ filename, tablePrefix: "two_" })
        const b = yield* TransactionLog.makeSqlite({ filename, tablePrefix: "two_" })
        yield* a.begin(begin("g1"))
        const work = Array.from({ length: 60 }, (_, i) =>
          i % 3 === 0
            ? (i % 2 === 0 ? a : b).decide("g1", i % 4 === 0 ? "commit" : "abort")
            : (i % 2 === 0 ? a : b).append("g1", "step", i))
        yield* Effect.all(work, { concurrency: "unbounded" })
        const record = yield* getOrFail(b, "g1")
        expect(record.entries.map((e) => e.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
        expect(record.decision).toBe("commit")
      }).pipe(Effect.scoped))

    it.effect("a stored row that does not decode is a TransactionLogError, not a throw", () =>
      Effect.gen(function*() {
        const dir = yield* TempDir
        const filename = Path.join(dir, "corrupt.db")
        const log = yield* TransactionLog.makeSqlite({ filename, tablePrefix: "c_" })
        yield* log.begin(begin("g1"))
        yield* log.begin(begin("g2"))
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`UPDATE c_transactions SET payload = 'not json' WHERE gid = 'g1'`
          yield* sql`UPDATE c_transactions SET protocol = 'xa' WHERE gid = 'g2'`
        }).pipe(Effect.provide(rawSqlite(filename)))
        expect(yield* Effect.flip(log.get("g1"))).toMatchObject({
          _tag: "TransactionLogError",
          operation: "get",
          gid: "g1"
        })
        const error = yield* Effect.flip(log.active())
        expect(error).toMatchObject({ _tag: "TransactionLogError", operation: "active" })
        expect(error.message).toContain("does not decode")
      }).pipe(Effect.scoped))

    it.effect("bad options fail with InvalidOptions naming the field", () =>
      Effect.gen(function*() {
        const dir = yield* TempDir
        const filename = sqliteFile(dir)
        for (const tablePrefix of ["Upper_", "1x", "has-dash", "x".repeat(32), ""]) {
          const error = yield* Effect.flip(Layer.build(TransactionLog.layerSqlite({ filename, tablePrefix })))
          expect(error._tag).toBe("InvalidOptions")
          expect(error.message).toContain("tablePrefix")
        }
        const noFile = yield* Effect.flip(Layer.build(TransactionLog.layerSqlite({ filename: "" })))
        expect(noFile.message).toContain("filename")
        const busy = yield* Effect.flip(Layer.build(TransactionLog.layerSqlite({ filename, busyTimeout: -1 })))
        expect(busy.message).toContain("busyTimeout")
        const sqlOptions = yield* Effect.flip(
          TransactionLog.makeSql({ tablePrefix: "a b" }).pipe(Effect.provide(rawSqlite(filename)))
        )
        expect(sqlOptions.message).toContain("tablePrefix")
      }).pipe(Effect.scoped))

    it.effect("a file name is used as given: spaces, %, #, ? and non-ASCII characters", () =>
      Effect.gen(function*() {
        const dir = Path.join(yield* TempDir, "names")
        Fs.mkdirSync(dir)
        const names = ["a b.db", "a%20b.db", "a#b.db", "a?x=1.db", "zürich.db"]
        for (const name of names) {
          yield* Effect.scoped(
            Effect.flatMap(TransactionLog.makeSqlite({ filename: Path.join(dir, name) }), (log) => log.begin(begin("g1")))
          )
        }
        expect(Fs.readdirSync(dir).filter((f) => f.endsWith(".db")).sort()).toEqual([...names].sort())
      }))

    it.effect("a relative file name is relative to the working directory", () =>
      Effect.gen(function*() {
        const dir = yield* TempDir
        const filename = Path.relative(process.cwd(), Path.join(dir, "relative.db"))
        expect(Path.isAbsolute(filename)).toBe(false)
        yield* Effect.scoped(Effect.flatMap(TransactionLog.makeSqlite({ filename }), (log) => log.begin(begin("g1"))))
        expect(Fs.existsSync(Path.join(dir, "relative.db"))).toBe(true)
      }))

    it.effect("a file that cannot be opened fails with TransactionLogError (operation connect)", () =>
      Effect.gen(function*() {
        const dir = yield* TempDir
        const error = yield* Effect.flip(
          Layer.build(TransactionLog.layerSqlite({ filename: Path.join(dir, "no", "such", "dir", "log.db") }))
        )
        expect(error).toMatchObject({ _tag: "TransactionLogError", operation: "connect" })
      }).pipe(Effect.scoped))

    it.effect("makeSql over a shared libsql client works and reads what layerSqlite wrote", () =>
      Effect.gen(function*() {
        const dir = yield* TempDir
        const filename = Path.join(dir, "shared.db")
        yield* Effect.scoped(Effect.gen(function*() {
          const log = yield* TransactionLog.makeSqlite({ filename, tablePrefix: "s_" })
          yield* log.begin(begin("g1"))
          yield* log.decide("g1", "commit")
        }))
        const decision = yield* TransactionLog.makeSql({ tablePrefix: "s_" }).pipe(
          Effect.flatMap((log) => getOrFail(log, "g1")),
          Effect.map((record) => record.decision),
          Effect.provide(rawSqlite(filename))
        )
        expect(decision).toBe("commit")
      }).pipe(Effect.scoped))
  })
})

// ---------------------------------------------------------------------------------------------
// Module loading and errors without a server
// ---------------------------------------------------------------------------------------------

describe("TransactionLog drivers", () => {
  it("importing @rampart/transaction does not load pg or libsql until a SQL log is made", async () => {
    const script = [
      "import { createRequire } from 'node:module'",
      "const loaded = () => Object.keys(createRequire(import.meta.url).cache)",
      "  .filter((k) => /[\\\\/]node_modules[\\\\/](pg|libsql)[\\\\/]/.test(k)).length",
      "await import('@rampart/transaction')",
      "await import('@rampart/transaction/TransactionLog')",
      "const before = loaded()",
      "const { TransactionLog } = await import('@rampart/transaction')",
      "const { Effect, Layer } = await import('effect')",
      "const { tmpdir } = await import('node:os')",
      "await Effect.runPromise(Effect.scoped(Layer.build(TransactionLog.layerSqlite({ filename: tmpdir() + '/rampart-import-' + process.pid + '.db' }))))",
      "await import('node:fs').then((fs) => ['', '-wal', '-shm'].forEach((s) => fs.rmSync(tmpdir() + '/rampart-import-' + process.pid + '.db' + s, { force: true })))",
      "process.stdout.write(before + ' ' + loaded())"
    ].join("\n")
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ["--conditions=source", "--import", "tsx", "--input-type=module", "-e", script],
        { cwd: Path.resolve(__dirname, "..") },
        (error, stdout) => (error === null ? resolve(stdout) : reject(error))
      )
    })
    const [before, after] = output.trim().split(" ").map(Number)
    expect(before).toBe(0)
    // The probe does see the driver once a log is built, so the 0 above means something.
    expect(after).toBeGreaterThan(0)
  }, 60_000)

  it.live("a PostgreSQL server that does not answer fails with TransactionLogError (operation connect)", () =>
    Effect.gen(function*() {
      const port = yield* Services.freePort
      const error = yield* Effect.flip(
        Layer.build(TransactionLog.layerPg({ host: "127.0.0.1", port, username: "postgres", database: "none" }))
      )
      expect(error).toMatchObject({ _tag: "TransactionLogError", operation: "connect" })
      expect(error.message).toContain("connect")
    }).pipe(Effect.scoped))

  it.effect("bad PostgreSQL options fail with InvalidOptions naming the field", () =>
    Effect.gen(function*() {
      const prefix = yield* Effect.flip(Layer.build(TransactionLog.layerPg({ tablePrefix: "Nope" })))
      expect(prefix.message).toContain("tablePrefix")
      const port = yield* Effect.flip(Layer.build(TransactionLog.layerPg({ port: 0 })))
      expect(port.message).toContain("port")
      const pool = yield* Effect.flip(Layer.build(TransactionLog.layerPg({ maxConnections: 0 })))
      expect(pool.message).toContain("maxConnections")
      const secret = yield* Effect.flip(
        Layer.build(TransactionLog.layerPg({ password: "plain" as unknown as Redacted.Redacted<string> }))
      )
      expect(secret.message).toContain("password")
    }).pipe(Effect.scoped))
})

// ---------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------

const postgres = Services.check("postgres")

class Database extends Context.Tag("test/Database")<Database, { readonly port: number; readonly name: string }>() {}
const databaseLayer = Layer.effect(
  Database,
  Effect.gen(function*() {
    const server = yield* PostgresServer.Tag
    const name = `txlog_${process.pid}`
    yield* server.createDatabase(name)
    return { port: server.port, name }
  })
).pipe(Layer.provideMerge(PostgresServer.layer()))

const pgConfig = (db: { readonly port: number; readonly name: string }, tablePrefix: string) => ({
  host: "127.0.0.1",
  port: db.port,
  username: "postgres",
  database: db.name,
  tablePrefix
})

describe.skipIf(!postgres.available)("TransactionLog (PostgreSQL)", () => {
  layer(databaseLayer, { timeout: 60_000 })((it) => {
    logSuite(
      it,
      () => Layer.unwrapEffect(Effect.map(Database, (db) => TransactionLog.layerPg(pgConfig(db, nextPrefix())))),
      { propRuns: 12 }
    )

    it.effect("two replicas with their own pools racing decide on the same gids get one decision each", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const tablePrefix = nextPrefix()
        // Both start at once: creating the same tables concurrently must not fail either.
        const [a, b] = yield* Effect.all([
          TransactionLog.makePg(pgConfig(db, tablePrefix)),
          TransactionLog.makePg(pgConfig(db, tablePrefix))
        ], { concurrency: 2 })
        const gids = Array.from({ length: 30 }, (_, i) => `race-${i}`)
        // Both replicas try to begin every gid: each gid is begun exactly once.
        const begun = yield* Effect.forEach(
          gids,
          (gid) => Effect.all([Effect.either(a.begin(begin(gid))), Effect.either(b.begin(begin(gid)))], { concurrency: 2 }),
          { concurrency: 10 }
        )
        for (const pair of begun) expect(pair.filter(Either.isRight)).toHaveLength(1)
        const answers = yield* Effect.forEach(
          gids,
          (gid, i) =>
            Effect.all([
              a.decide(gid, i % 2 === 0 ? "commit" : "abort"),
              b.decide(gid, i % 2 === 0 ? "abort" : "commit"),
              a.decide(gid, "commit"),
              b.decide(gid, "abort")
            ], { concurrency: 4 }),
          { concurrency: 10 }
        )
        for (const [i, gid] of gids.entries()) {
          const standing = (yield* getOrFail(a, gid)).decision
          expect(new Set(answers[i])).toEqual(new Set([standing]))
          expect((yield* getOrFail(b, gid)).decision).toBe(standing)
        }
        // Appends from both replicas to one gid interleave into distinct seqs.
        const seqs = yield* Effect.all(
          Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).append("race-0", "ack", i)),
          { concurrency: "unbounded" }
        )
        expect([...seqs].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1))
      }).pipe(Effect.scoped))

    it.effect("nothing acknowledged is lost when PostgreSQL is killed and restarted", () =>
      TestServices.provideLive(
        Effect.gen(function*() {
          const db = yield* Database
          const server = yield* PostgresServer.Tag
          const tablePrefix = nextPrefix()
          const log = yield* TransactionLog.makePg(pgConfig(db, tablePrefix))
          for (let i = 0; i < 10; i++) {
            yield* log.begin(begin(`k${i}`))
            yield* log.append(`k${i}`, "prepared", { i })
            if (i % 2 === 0) yield* log.decide(`k${i}`, i % 4 === 0 ? "commit" : "abort")
            if (i % 3 === 0) yield* log.finish(`k${i}`)
          }
          const before = yield* Effect.forEach(Array.from({ length: 10 }, (_, i) => `k${i}`), (gid) => log.get(gid))
          yield* server.kill
          const down = yield* Effect.flip(log.get("k0"))
          expect(down).toMatchObject({ _tag: "TransactionLogError", operation: "get", gid: "k0" })
          yield* server.restart
          // The pool drops its dead connections; the first call after the restart may still meet one.
          const retry = Schedule.spaced("50 millis").pipe(Schedule.compose(Schedule.recurs(40)))
          const after = yield* Effect.forEach(
            Array.from({ length: 10 }, (_, i) => `k${i}`),
            (gid) => Effect.retry(log.get(gid), retry)
          )
          expect(after).toEqual(before)
          // A fresh replica sees the same, and the fence still holds.
          const fresh = yield* TransactionLog.makePg(pgConfig(db, tablePrefix))
          expect(yield* fresh.decide("k2", "commit")).toBe("abort")
          expect((yield* fresh.active()).map((r) => r.gid)).toEqual(["k1", "k2", "k4", "k5", "k7", "k8"])
        }).pipe(Effect.scoped)
      ))

    it.effect("log operations inside a caller's transaction on the same client are not rolled back with it", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const client = PgClient.layer({ host: "127.0.0.1", port: db.port, username: "postgres", database: db.name })
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const log = yield* TransactionLog.makeSql({ tablePrefix: nextPrefix() })
          const failed = yield* Effect.either(sql.withTransaction(
            Effect.zipRight(
              Effect.zipRight(log.begin(begin("g1")), log.decide("g1", "commit")),
              Effect.fail("caller gives up")
            )
          ))
          expect(failed).toEqual(Either.left("caller gives up"))
          expect((yield* getOrFail(log, "g1")).decision).toBe("commit")
        }).pipe(Effect.provide(client))
      }))

    it.effect("a stored row that does not decode is a TransactionLogError", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const server = yield* PostgresServer.Tag
        const tablePrefix = nextPrefix()
        const log = yield* TransactionLog.makePg(pgConfig(db, tablePrefix))
        yield* log.begin(begin("g1"))
        yield* server.psql(`UPDATE ${tablePrefix}transactions SET participants = '{"not":"a list"}'`, {
          database: db.name
        })
        expect(yield* Effect.flip(log.get("g1"))).toMatchObject({ _tag: "TransactionLogError", operation: "get" })
      }).pipe(Effect.scoped))

    it.effect("accepts a Redacted url", () =>
      Effect.gen(function*() {
        const db = yield* Database
        const log = yield* TransactionLog.makePg({
          url: Redacted.make(`postgres://postgres@127.0.0.1:${db.port}/${db.name}`),
          tablePrefix: nextPrefix(),
          maxConnections: 2
        })
        yield* log.begin(begin("g1"))
        expect(yield* log.decide("g1", "abort")).toBe("abort")
      }).pipe(Effect.scoped))
  })
})

// A server whose default is synchronous_commit=off acknowledges commits before their WAL leaves
// it: the log notices at make and commits its own writes synchronously anyway.
describe.skipIf(!postgres.available)("TransactionLog (PostgreSQL, synchronous_commit=off)", () => {
  layer(PostgresServer.layer({ args: ["-c", "synchronous_commit=off"] }), { timeout: 60_000 })((it) => {
    it.effect("loses nothing acknowledged when the server is killed right after the writes", () =>
      TestServices.provideLive(
        Effect.gen(function*() {
          const server = yield* PostgresServer.Tag
          const config = pgConfig({ port: server.port, name: "postgres" }, nextPrefix())
          const log = yield* TransactionLog.makePg(config)
          const gids = Array.from({ length: 20 }, (_, i) => `s${i}`)
          for (const [i, gid] of gids.entries()) {
            yield* log.begin(begin(gid))
            yield* log.append(gid, "prepared", { i })
            yield* log.decide(gid, i % 2 === 0 ? "commit" : "abort")
          }
          const before = yield* Effect.forEach(gids, (gid) => log.get(gid))
          yield* server.kill
          yield* server.restart
          const retry = Schedule.spaced("50 millis").pipe(Schedule.compose(Schedule.recurs(40)))
          const fresh = yield* Effect.retry(TransactionLog.makePg(config), retry)
          expect(yield* Effect.forEach(gids, (gid) => fresh.get(gid))).toEqual(before)
        }).pipe(Effect.scoped)
      ))
  })
})
