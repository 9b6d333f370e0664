/**
 * Transactions, in one run:
 *
 * 1. Two-phase commit across three PostgreSQL databases (one local server started here, with
 *    `fsync`, `synchronous_commit` and `full_page_writes` ON, so commits pay real flushes) against
 *    the same writes as one local transaction per database. Each transaction adds 1 to one account
 *    in each database. 2PC pays two flushes per database (PREPARE TRANSACTION, COMMIT PREPARED),
 *    so ~2× the local floor is the physics; the target is ≤ 2.5×. Shown with the coordinator's log
 *    in memory and in a fourth PostgreSQL database (what replicas would share).
 * 2. Saga throughput: a three-step saga with trivial actions, with the memory log and with the
 *    SQLite log (a file, synchronous=FULL), at 1, 10 and 100 concurrent sagas, against the same
 *    three steps run as plain Effects with no log (what orchestration costs).
 *
 * Every figure is the median of the rounds; cases of one table are interleaved round by round.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PostgresServer from "@rampart/testing/PostgresServer"
import { PgParticipant, Saga, TransactionLog, TwoPhaseCommit } from "@rampart/transaction"
import { Context, Effect, Either, Exit, Layer, Schema, Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const ACCOUNTS = 1_000

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

interface Throughput {
  readonly name: string
  /** Runs `count` transactions, `concurrency` at a time. */
  readonly run: (count: number) => Effect.Effect<void, unknown>
}

/** Interleaves the cases round by round; returns the median transactions per second of each. */
const throughput = async (cases: ReadonlyArray<Throughput>, count: number, rounds: number) => {
  for (const c of cases) await Effect.runPromise(c.run(Math.max(1, Math.floor(count / 5))))
  const samples = new Map<string, Array<number>>()
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      const start = process.hrtime.bigint()
      await Effect.runPromise(c.run(count))
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      samples.set(c.name, [...(samples.get(c.name) ?? []), count / seconds])
    }
  }
  return new Map(cases.map((c) => [c.name, median(samples.get(c.name)!)]))
}

const twoPhaseCommitBench = async (options: { readonly transactions: number; readonly rounds: number }) => {
  const scope = Effect.runSync(Scope.make())
  const started = await Effect.runPromise(
    Effect.either(
      Scope.extend(
        PostgresServer.start({
          args: ["-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on", "-c", "max_connections=200"]
        }),
        scope
      )
    )
  )
  if (Either.isLeft(started)) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    console.log(`\n### Transactions: 2PC on PostgreSQL\n\nSKIPPED: ${started.left.message} (apt-get install postgresql)`)
    return
  }
  const server = started.right
  try {
    const setup = Effect.gen(function*() {
      const names = ["bench_a", "bench_b", "bench_c"]
      for (const name of [...names, "bench_log"]) yield* server.createDatabase(name)
      const clients = yield* Effect.forEach(names, (database) =>
        Effect.map(
          Layer.build(PgClient.layer({ host: "127.0.0.1", port: server.port, username: "postgres", database, maxConnections: 40 })),
          (context) => Context.get(context, SqlClient.SqlClient)
        ))
      for (const sql of clients) {
        yield* sql`CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL)`
        yield* sql`INSERT INTO accounts SELECT g, 0 FROM generate_series(0, ${ACCOUNTS - 1}) g`
      }
      const participants = yield* Effect.forEach(clients, (sql, i) =>
        Effect.provideService(PgParticipant.make({ id: `db-${i}` }), SqlClient.SqlClient, sql))
      const memoryLog = yield* TransactionLog.makeMemory
      const pgLog = yield* TransactionLog.makePg({
        host: "127.0.0.1",
        port: server.port,
        username: "postgres",
        database: "bench_log"
      })
      const coordinatorOn = (log: TransactionLog.Service, name: string) =>
        Effect.provideService(TwoPhaseCommit.make({ name, prepareTimeout: "30 seconds" }), TransactionLog.TransactionLog, log)
      return {
        clients,
        participants,
        memoryCoordinator: yield* coordinatorOn(memoryLog, "bench-memory"),
        pgCoordinator: yield* coordinatorOn(pgLog, "bench-pg")
      }
    })
    const { clients, memoryCoordinator, participants, pgCoordinator } = await Effect.runPromise(Scope.extend(setup, scope))
    let next = 0
    const bump = (sql: SqlClient.SqlClient, id: number) => sql`UPDATE accounts SET balance = balance + 1 WHERE id = ${id}`
    const concurrency = 16
    const local: Throughput = {
      name: "one local transaction per database",
      run: (count) =>
        Effect.forEach(
          Array.from({ length: count }, () => next++ % ACCOUNTS),
          (id) => Effect.all(clients.map((sql) => sql.withTransaction(bump(sql, id))), { concurrency: "unbounded" }),
          { concurrency, discard: true }
        )
    }
    const twoPhase = (name: string, coordinator: TwoPhaseCommit.TwoPhaseCommit): Throughput => ({
      name,
      run: (count) =>
        Effect.forEach(
          Array.from({ length: count }, () => next++ % ACCOUNTS),
          (id) =>
            TwoPhaseCommit.run(
              coordinator,
              participants.map((participant, i) => participant.branch(bump(clients[i]!, id)))
            ),
          { concurrency, discard: true }
        )
    })
    const cases = [local, twoPhase("2PC, log in memory", memoryCoordinator), twoPhase("2PC, log in PostgreSQL", pgCoordinator)]
    const results = await throughput(cases, options.transactions, options.rounds)
    const floor = results.get(local.name)!
    console.log(
      `\n### Transactions: 2PC across three PostgreSQL databases, ${concurrency} concurrent, fsync on (median of ${options.rounds} rounds)\n`
    )
    console.log("| case | transactions/s | × the local floor's time |")
    console.log("| --- | ---: | ---: |")
    for (const c of cases) {
      const tps = results.get(c.name)!
      console.log(`| ${c.name} | ${tps.toFixed(0)} | ${c === local ? "(baseline)" : `${(floor / tps).toFixed(2)}×`} |`)
    }
    const leftover = await Effect.runPromise(server.psql("SELECT count(*) FROM pg_prepared_xacts"))
    console.log(`\nPrepared transactions left behind: ${leftover.trim()}`)
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const Input = Schema.Struct({ n: Schema.Number })

const sagaBench = async (options: { readonly sagas: number; readonly rounds: number }) => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "rampart-bench-saga-"))
  const scope = Effect.runSync(Scope.make())
  try {
    let applied = 0
    const makeStep = <const N extends string>(name: N) =>
      Saga.step({
        name,
        action: (ctx: Saga.StepContext<typeof Input.Type>) => Effect.sync(() => (applied += ctx.input.n)),
        compensate: () => Effect.void
      })
    const steps = [makeStep("reserve"), makeStep("charge"), makeStep("ship")] as const
    const sagaOn = (log: TransactionLog.Service, name: string) =>
      Effect.provideService(Saga.make({ name, input: Input, steps }), TransactionLog.TransactionLog, log)
    const { memorySaga, sqliteSaga } = await Effect.runPromise(
      Scope.extend(
        Effect.gen(function*() {
          const memoryLog = yield* TransactionLog.makeMemory
          const sqliteLog = yield* TransactionLog.makeSqlite({ filename: Path.join(dir, "saga.db") })
          return { memorySaga: yield* sagaOn(memoryLog, "bench-memory"), sqliteSaga: yield* sagaOn(sqliteLog, "bench-sqlite") }
        }),
        scope
      )
    )
    const plainStep = (n: number) => Effect.sync(() => (applied += n))
    const plainSteps = (n: number) => Effect.zipRight(plainStep(n), Effect.zipRight(plainStep(n), plainStep(n)))
    console.log(`\n### Transactions: saga throughput, three trivial steps (median of ${options.rounds} rounds)\n`)
    console.log("| concurrent sagas | plain Effects, no log (sagas/s) | memory log (sagas/s) | SQLite log (sagas/s) | memory log cost per saga |")
    console.log("| ---: | ---: | ---: | ---: | ---: |")
    for (const concurrency of [1, 10, 100]) {
      const caseOf = (name: string, one: Effect.Effect<unknown, unknown>): Throughput => ({
        name,
        run: (count) => Effect.forEach(Array.from({ length: count }), () => one, { concurrency, discard: true })
      })
      const plain = caseOf("plain", plainSteps(1))
      const memory = caseOf("memory", Saga.run(memorySaga, { n: 1 }))
      const sqlite = caseOf("sqlite", Saga.run(sqliteSaga, { n: 1 }))
      const memoryResults = await throughput([plain, memory], options.sagas, options.rounds)
      const sqliteResults = await throughput([sqlite], Math.max(concurrency, Math.floor(options.sagas / 20)), options.rounds)
      const plainTps = memoryResults.get("plain")!
      const memoryTps = memoryResults.get("memory")!
      const costUs = (1 / memoryTps - 1 / plainTps) * 1e6
      console.log(
        `| ${concurrency} | ${plainTps.toFixed(0)} | ${memoryTps.toFixed(0)} | ${sqliteResults.get("sqlite")!.toFixed(0)} | ${costUs.toFixed(1)} µs |`
      )
    }
    if (applied === 0) console.log("(no step ran?)")
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    Fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const transactionBench = async (options: {
  readonly transactions: number
  readonly sagas: number
  readonly rounds: number
}) => {
  await twoPhaseCommitBench(options)
  await sagaBench(options)
}
