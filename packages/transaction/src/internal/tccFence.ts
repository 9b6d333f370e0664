import { SqlClient } from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, Name } from "@rampart/core/Options"
import { type Clock, Effect, Schema } from "effect"
import { ParticipantError } from "../Errors.js"
import type * as TF from "../TccFence.js"
import { TccFenceConflict, type TccFenceStatus, TccTryRefused } from "./tccErrors.js"

export const TypeId: TF.TypeId = Symbol.for("@rampart/transaction/TccFence") as TF.TypeId

type Operation = "try" | "confirm" | "cancel"
type Status = TccFenceStatus

/** The fence's view of one branch inside one local transaction. */
interface FenceTx {
  /** Inserts the row with `status`; `false` when a row already exists (the primary key decides). */
  readonly insert: (status: Status) => Effect.Effect<boolean, ParticipantError>
  /** Moves the row from `tried` to `to`; `false` when it is not `tried` (or absent). */
  readonly advance: (to: "confirmed" | "cancelled") => Effect.Effect<boolean, ParticipantError>
  readonly read: Effect.Effect<Status | undefined, ParticipantError>
}

/** How a backend runs one fence step and its business change atomically. */
interface FenceStore {
  readonly kind: "memory" | "sql"
  readonly transact: <A, E, R>(
    gid: string,
    branch: string,
    operation: Operation,
    body: (tx: FenceTx) => Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | ParticipantError, R>
  readonly status: (gid: string, branch: string) => Effect.Effect<Status | undefined, SqlError>
}

// -------------------------------------------------------------------------------------------------
// Options
// -------------------------------------------------------------------------------------------------

const TablePrefix = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]{0,40}$|^$/, {
    message: () => "Expected a SQL identifier prefix: letters, digits and underscores, not starting with a digit"
  })
)

export const TccFenceMemoryOptions = Schema.Struct({ name: Name })

export const TccFenceSqlOptions = Schema.Struct({
  name: Name,
  tablePrefix: Schema.optionalWith(TablePrefix, { default: () => "rampart_" }),
  createTable: Schema.optionalWith(Schema.Boolean, { default: () => true })
})

const decodeMemory = decodeOptions("TccFence", TccFenceMemoryOptions)
const decodeSql = decodeOptions("TccFence", TccFenceSqlOptions)

// -------------------------------------------------------------------------------------------------
// The fence algorithm, shared by the backends
// -------------------------------------------------------------------------------------------------

const FENCE_TOTAL = "rampart_tcc_fence_total"
const FENCE_HELP = "TCC fence decisions: applied, duplicate, empty_rollback, suspended, conflict"

class TccFenceImpl implements TF.TccFence {
  readonly [TypeId]: TF.TypeId = TypeId
  readonly kind: "memory" | "sql"
  private readonly count: Record<
    "applied" | "duplicate" | "empty_rollback" | "suspended" | "conflict",
    (amount: number) => void
  >

  constructor(readonly name: string, private readonly store: FenceStore) {
    this.kind = store.kind
    const metrics = makeInstanceMetrics(name)
    this.count = {
      applied: metrics.counter(FENCE_TOTAL, FENCE_HELP, { outcome: "applied" }),
      duplicate: metrics.counter(FENCE_TOTAL, FENCE_HELP, { outcome: "duplicate" }),
      empty_rollback: metrics.counter(FENCE_TOTAL, FENCE_HELP, { outcome: "empty_rollback" }),
      suspended: metrics.counter(FENCE_TOTAL, FENCE_HELP, { outcome: "suspended" }),
      conflict: metrics.counter(FENCE_TOTAL, FENCE_HELP, { outcome: "conflict" })
    }
  }

  /**
   * Try: insert `tried`. Inserted: run the business try in the same local transaction (its failure
   * rolls the fence row back too). Not inserted: `cancelled` means the cancel came first, so the
   * try is refused (suspension); `tried`/`confirmed` means a duplicate, answered without re-running
   * the business try.
   */
  readonly try = <E, R>(
    gid: string,
    branch: string,
    business: Effect.Effect<void, E, R>
  ): Effect.Effect<TF.TccFenceOutcome, E | TccTryRefused | ParticipantError, R> =>
    this.store.transact(gid, branch, "try", (tx) =>
      Effect.flatMap(tx.insert("tried"), (inserted): Effect.Effect<
        TF.TccFenceOutcome,
        E | TccTryRefused | ParticipantError,
        R
      > => {
        if (inserted) return Effect.as(business, "applied")
        return Effect.flatMap(tx.read, (status) => {
          if (status === "cancelled") {
            this.count.suspended(1)
            return Effect.fail(new TccTryRefused({ participant: branch, gid, reason: "cancelled", suspended: true }))
          }
          this.count.duplicate(1)
          return Effect.succeed("duplicate")
        })
      })).pipe(Effect.tap((outcome) => outcome === "applied" ? this.count.applied(1) : undefined))

  /**
   * Confirm: move `tried` to `confirmed` and run the business confirm in the same local
   * transaction. Already `confirmed`: a duplicate, nothing runs. `cancelled` or absent: a conflict;
   * the status never moves backward.
   */
  readonly confirm = <E, R>(
    gid: string,
    branch: string,
    business: Effect.Effect<void, E, R>
  ): Effect.Effect<TF.TccFenceOutcome, E | TccFenceConflict | ParticipantError, R> =>
    this.store.transact(gid, branch, "confirm", (tx) =>
      Effect.flatMap(tx.advance("confirmed"), (advanced): Effect.Effect<
        TF.TccFenceOutcome,
        E | TccFenceConflict | ParticipantError,
        R
      > => {
        if (advanced) return Effect.as(business, "applied")
        return Effect.flatMap(tx.read, (status) => {
          if (status === "confirmed") {
            this.count.duplicate(1)
            return Effect.succeed("duplicate")
          }
          this.count.conflict(1)
          return Effect.fail(
            new TccFenceConflict({ gid, branch, operation: "confirm", status: status ?? "absent" })
          )
        })
      })).pipe(Effect.tap((outcome) => outcome === "applied" ? this.count.applied(1) : undefined))

  /**
   * Cancel: insert `cancelled`. Inserted: no try ran, so there is nothing to release (empty
   * rollback), and the row now refuses a late try. Otherwise move `tried` to `cancelled` and run
   * the business cancel in the same local transaction. Already `cancelled`: a duplicate.
   * `confirmed`: a conflict.
   */
  readonly cancel = <E, R>(
    gid: string,
    branch: string,
    business: Effect.Effect<void, E, R>
  ): Effect.Effect<TF.TccFenceOutcome, E | TccFenceConflict | ParticipantError, R> =>
    this.store.transact(gid, branch, "cancel", (tx) =>
      Effect.flatMap(tx.insert("cancelled"), (inserted): Effect.Effect<
        TF.TccFenceOutcome,
        E | TccFenceConflict | ParticipantError,
        R
      > => {
        if (inserted) return Effect.succeed("emptyRollback")
        return Effect.flatMap(tx.advance("cancelled"), (advanced): Effect.Effect<
          TF.TccFenceOutcome,
          E | TccFenceConflict | ParticipantError,
          R
        > => {
          if (advanced) return Effect.as(business, "applied" as const)
          return Effect.flatMap(tx.read, (status) => {
            if (status === "cancelled") return Effect.succeed("duplicate" as const)
            this.count.conflict(1)
            return Effect.fail(
              new TccFenceConflict({ gid, branch, operation: "cancel", status: status ?? "absent" })
            )
          })
        })
      })).pipe(Effect.tap((outcome) => {
        // Counted after the local transaction commits, so a rolled-back step is not counted.
        if (outcome === "applied") this.count.applied(1)
        else if (outcome === "emptyRollback") this.count.empty_rollback(1)
        else this.count.duplicate(1)
      }))

  readonly status = (gid: string, branch: string): Effect.Effect<Status | undefined, SqlError> =>
    this.store.status(gid, branch)
}

export const isTccFence = (u: unknown): u is TF.TccFence => typeof u === "object" && u !== null && TypeId in u

// -------------------------------------------------------------------------------------------------
// Memory
// -------------------------------------------------------------------------------------------------

const keyOf = (gid: string, branch: string) => `${gid}\u0000${branch}`

/**
 * One lock per branch stands in for the row lock: steps of one branch run one at a time, and a
 * step's writes are staged and kept only when its business effect succeeds (a rollback).
 */
const makeMemoryStore = (): FenceStore => {
  const rows = new Map<string, Status>()
  const locks = new Map<string, Effect.Semaphore>()
  const lockOf = (key: string) => {
    let lock = locks.get(key)
    if (lock === undefined) {
      lock = Effect.unsafeMakeSemaphore(1)
      locks.set(key, lock)
    }
    return lock
  }
  return {
    kind: "memory",
    transact: (gid, branch, _operation, body) =>
      Effect.suspend(() => {
        const key = keyOf(gid, branch)
        return lockOf(key).withPermits(1)(Effect.suspend(() => {
          let staged: Status | undefined = rows.get(key)
          let dirty = false
          const tx: FenceTx = {
            insert: (status) =>
              Effect.sync(() => {
                if (staged !== undefined) return false
                staged = status
                dirty = true
                return true
              }),
            advance: (to) =>
              Effect.sync(() => {
                if (staged !== "tried") return false
                staged = to
                dirty = true
                return true
              }),
            read: Effect.sync(() => staged)
          }
          return Effect.tap(body(tx), () => {
            if (dirty && staged !== undefined) rows.set(key, staged)
          })
        }))
      }),
    status: (gid, branch) => Effect.sync(() => rows.get(keyOf(gid, branch)))
  }
}

export const makeMemory = (options: TF.TccFenceMemoryOptionsInput): Effect.Effect<TF.TccFence, TF.InvalidOptions> =>
  Effect.map(decodeMemory(options), (decoded) => new TccFenceImpl(decoded.name, makeMemoryStore()))

// -------------------------------------------------------------------------------------------------
// SQL
// -------------------------------------------------------------------------------------------------

const isSqlError = (u: unknown): u is SqlError => u instanceof SqlError

const describe = (error: SqlError): string => {
  const cause = error.cause
  const detail = typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : ""
  return detail === "" ? error.message : `${error.message}: ${detail}`
}

export const tableName = (tablePrefix: string): string => `${tablePrefix}tcc_fence`

/**
 * Each step is one `sql.withTransaction`: the fence row and the business change commit or roll back
 * together. The primary key `(gid, branch)` serialises a try and a cancel of the same branch: the
 * second `INSERT ... ON CONFLICT DO NOTHING` waits for the first one's transaction and then sees its
 * row. (`SELECT ... FOR UPDATE` would not do: it locks nothing when the row does not exist yet, so
 * both would see "absent", the cancel would record an empty rollback and the try would then reserve
 * for good.) `UPDATE ... WHERE status = 'tried'` re-checks the status after waiting for a
 * concurrent step's row lock, so a status only moves forward, once.
 */
const makeSqlStore = (sql: SqlClient, table: string, clock: Clock.Clock): FenceStore => {
  const t = sql(table)
  const toParticipantError = (gid: string, branch: string, operation: Operation) => (error: SqlError) =>
    new ParticipantError({
      participant: branch,
      gid,
      operation,
      reason: `fence store failed: ${describe(error)}`,
      cause: error
    })
  const statusOf = (rows: ReadonlyArray<{ readonly status: unknown }>): Status | undefined => {
    const status = rows[0]?.status
    return status === "tried" || status === "confirmed" || status === "cancelled" ? status : undefined
  }
  return {
    kind: "sql",
    transact: (gid, branch, operation, body) =>
      Effect.suspend(() => {
        const now = clock.unsafeCurrentTimeMillis()
        const mapError = toParticipantError(gid, branch, operation)
        const tx: FenceTx = {
          insert: (status) =>
            Effect.mapError(
              Effect.map(
                sql<{ status: string }>`INSERT INTO ${t} (gid, branch, status, updated_at)
                  VALUES (${gid}, ${branch}, ${status}, ${now}) ON CONFLICT DO NOTHING RETURNING status`,
                (rows) => rows.length > 0
              ),
              mapError
            ),
          advance: (to) =>
            Effect.mapError(
              Effect.map(
                sql<{ status: string }>`UPDATE ${t} SET status = ${to}, updated_at = ${now}
                  WHERE gid = ${gid} AND branch = ${branch} AND status = 'tried' RETURNING status`,
                (rows) => rows.length > 0
              ),
              mapError
            ),
          read: Effect.mapError(
            Effect.map(sql<{ status: string }>`SELECT status FROM ${t} WHERE gid = ${gid} AND branch = ${branch}`, statusOf),
            mapError
          )
        }
        return sql.withTransaction(body(tx)).pipe(
          // The business effect runs on this fence's client (and so inside its transaction), whatever
          // client the caller's context holds.
          Effect.provideService(SqlClient, sql),
          Effect.catchIf(isSqlError, (error) => Effect.fail(mapError(error)))
        )
      }),
    status: (gid, branch) =>
      Effect.map(sql<{ status: string }>`SELECT status FROM ${t} WHERE gid = ${gid} AND branch = ${branch}`, statusOf)
  }
}

export const createTable = (sql: SqlClient, table: string): Effect.Effect<void, SqlError> =>
  Effect.asVoid(sql`CREATE TABLE IF NOT EXISTS ${sql(table)} (
    gid TEXT NOT NULL,
    branch TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('tried', 'confirmed', 'cancelled')),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (gid, branch)
  )`)

export const makeSql = (
  options: TF.TccFenceSqlOptionsInput
): Effect.Effect<TF.TccFence, TF.InvalidOptions | SqlError, SqlClient> =>
  Effect.gen(function*() {
    const decoded = yield* decodeSql(options)
    const sql = yield* SqlClient
    const clock = yield* Effect.clock
    const table = tableName(decoded.tablePrefix)
    if (decoded.createTable) yield* createTable(sql, table)
    return new TccFenceImpl(decoded.name, makeSqlStore(sql, table, clock))
  })
