import type { SqlConnection } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import { decodeOptions, Name, PositiveDuration, PositiveInt } from "@rampart/core/Options"
import { Context, Duration, Effect, Either, Option, Schema } from "effect"
import {
  InvalidGid,
  type InvalidOptions,
  ParticipantError,
  type ParticipantOperation,
  type TransactionLogError
} from "../Errors.js"
import * as Gid from "../Gid.js"
import * as Participant from "../Participant.js"
import type * as Public from "../PgParticipant.js"
import type * as TransactionLog from "../TransactionLog.js"

/** @internal */
export const TypeId: unique symbol = Symbol.for("@rampart/transaction/PgParticipant")

/** @internal */
export type TypeId = typeof TypeId

// PostgreSQL's limit for a prepared transaction's identifier (GIDSIZE 200, with the terminating NUL).
const maxGidBytes = 199
// The separator between the global gid and the participant id in PostgreSQL's identifier: never a
// gid character, so the split is unambiguous.
const separator = "@"
const idPattern = /^[A-Za-z0-9_.:-]{1,70}$/
const prefixPattern = /^[A-Za-z0-9_.:-]{1,100}$/

/** @internal */
export const PgParticipantOptions = Schema.Struct({
  id: Name.pipe(Schema.filter((s) => idPattern.test(s) || "an id is 1 to 70 characters from [A-Za-z0-9_.:-]")),
  gidPrefix: Schema.optionalWith(
    Schema.String.pipe(
      Schema.filter((s) => prefixPattern.test(s) || "a gid prefix is 1 to 100 characters from [A-Za-z0-9_.:-]")
    ),
    { default: () => "rampart-" }
  ),
  lockTimeout: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(2) }),
  rememberDecisions: Schema.optionalWith(PositiveInt, { default: () => 10_000 })
})

/** @internal */
export type PgParticipantOptions = typeof PgParticipantOptions.Type

/** @internal */
export type PgParticipantOptionsInput = typeof PgParticipantOptions.Encoded

type PgParticipant = Public.PgParticipant
type PreparedTransaction = Public.PreparedTransaction

/** @internal */
export const isPgParticipant = (u: unknown): u is PgParticipant => typeof u === "object" && u !== null && TypeId in u

const decode = decodeOptions("PgParticipant", PgParticipantOptions)

const encoder = new TextEncoder()

/** @internal */
export const checkGid = (gid: string): Either.Either<Gid.Gid, InvalidGid> => {
  if (typeof gid !== "string" || !Gid.isGid(gid)) {
    return Either.left(new InvalidGid({ gid: String(gid), reason: "a gid is 1 to 128 characters from [A-Za-z0-9_.:-]" }))
  }
  if (encoder.encode(gid).length > maxGidBytes) {
    return Either.left(new InvalidGid({ gid, reason: `PostgreSQL takes at most ${maxGidBytes} bytes` }))
  }
  return Either.right(gid)
}

/** @internal */
export const validateGid = (gid: string): Effect.Effect<Gid.Gid, InvalidGid> => Effect.suspend(() => checkGid(gid))

// Defence in depth: identifiers are validated to [A-Za-z0-9_.:-@] before they get here, so there
// is nothing to escape; doubling quotes keeps the literal safe even if that ever changed.
const literal = (s: string): string => `'${s.replaceAll("'", "''")}'`

const sqlState = (error: SqlError): string | undefined => {
  const cause: unknown = error.cause
  if (typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string") {
    return cause.code
  }
  return undefined
}

const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const cause = "cause" in error ? error.cause : undefined
    const causeMessage = typeof cause === "object" && cause !== null && "message" in cause &&
        typeof cause.message === "string"
      ? cause.message
      : undefined
    if ("message" in error && typeof error.message === "string" && error.message !== "") {
      return causeMessage === undefined || causeMessage === error.message
        ? error.message
        : `${error.message}: ${causeMessage}`
    }
    if ("_tag" in error && typeof error._tag === "string") return error._tag
  }
  return String(error)
}

// Runs our own statements on the pool, never on a transaction connection the caller's fiber may carry.
const outsideTransaction = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.mapInputContext(self, (context: Context.Context<R>) =>
    Context.omit(SqlClient.TransactionConnection)(context) as Context.Context<R>)

type Phase = "idle" | "open" | "preparing" | "done"

/** @internal */
export const make = (
  input: PgParticipantOptionsInput
): Effect.Effect<PgParticipant, InvalidOptions, SqlClient.SqlClient> =>
  Effect.flatMap(decode(input), (options) =>
    Effect.map(SqlClient.SqlClient, (sql) => makeWith(options, sql)))

const makeWith = (options: PgParticipantOptions, sql: SqlClient.SqlClient): PgParticipant => {
  const id = options.id
  const suffix = `${separator}${id}`
  const lockTimeoutMillis = Duration.isFinite(options.lockTimeout)
    ? Math.max(1, Math.ceil(Duration.toMillis(options.lockTimeout)))
    : 0
  const metrics = makeInstanceMetrics(id)
  const votedYes = metrics.counter("rampart_pg_participant_votes_total", "Prepare votes", { vote: "yes" })
  const votedNo = metrics.counter("rampart_pg_participant_votes_total", "Prepare votes", { vote: "no" })
  const committedCount = metrics.counter("rampart_pg_participant_committed_total", "COMMIT PREPARED carried out")
  const rolledBackCount = metrics.counter("rampart_pg_participant_rolled_back_total", "ROLLBACK PREPARED carried out")
  const sweptCount = metrics.counter("rampart_pg_participant_swept_total", "Prepared transactions resolved by a sweep")

  // What this process has seen of each gid, bounded (oldest forgotten first): "prepared" by this
  // instance (a duplicate prepare answers Yes at once), then its decision. A prepare of a gid aborted
  // here votes No and never leaves a prepared transaction behind; across processes the sweep covers it.
  const decisions = new Map<string, TransactionLog.Decision | "prepared">()
  const remember = (gid: string, decision: TransactionLog.Decision | "prepared") => {
    decisions.delete(gid)
    decisions.set(gid, decision)
    if (decisions.size > options.rememberDecisions) {
      const oldest = decisions.keys().next()
      if (oldest.done !== true) decisions.delete(oldest.value)
    }
  }

  const transactionId = (gid: string) => `${gid}${suffix}`

  const fail = (gid: string, operation: ParticipantOperation, reason: string, cause?: unknown) =>
    new ParticipantError({
      participant: id,
      gid,
      operation,
      reason,
      ...(cause === undefined ? {} : { cause })
    })

  const sqlFailure = (gid: string, operation: ParticipantOperation, what: string) => (error: SqlError) =>
    fail(gid, operation, `${what}: ${describe(error)}`, error)

  const isPreparedOnPool = (gid: string): Effect.Effect<boolean, SqlError> =>
    outsideTransaction(
      Effect.map(
        sql.unsafe<{ readonly gid: string }>(
          "SELECT gid FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database()",
          [transactionId(gid)]
        ),
        (rows) => rows.length > 0
      )
    )

  const isPreparedOn = (conn: SqlConnection.Connection, gid: string): Effect.Effect<boolean, SqlError> =>
    Effect.map(
      conn.executeUnprepared(
        "SELECT gid FROM pg_prepared_xacts WHERE gid = $1 AND database = current_database()",
        [transactionId(gid)],
        undefined
      ),
      (rows) => rows.length > 0
    )

  // COMMIT PREPARED / ROLLBACK PREPARED: 42704 (no such prepared transaction) means "already done or
  // never prepared", which is success for an idempotent participant; the coordinator's log knows which.
  const finishPrepared = (
    gid: Gid.Gid,
    verb: "COMMIT" | "ROLLBACK",
    operation: ParticipantOperation
  ): Effect.Effect<boolean, ParticipantError> =>
    outsideTransaction(
      sql.unsafe(`${verb} PREPARED ${literal(transactionId(gid))}`).pipe(
        Effect.as(true),
        Effect.catchAll((error) =>
          sqlState(error) === "42704"
            ? Effect.succeed(false)
            : Effect.fail(fail(gid, operation, `${verb} PREPARED failed: ${describe(error)}`, error))
        )
      )
    )

  const withValidGid = <A>(
    gid: string,
    operation: ParticipantOperation,
    f: (gid: Gid.Gid) => Effect.Effect<A, ParticipantError>
  ): Effect.Effect<A, ParticipantError> =>
    Either.match(checkGid(gid), {
      onLeft: (error) => Effect.fail(fail(String(gid), operation, error.message, error)),
      onRight: f
    })

  const commit = (gid: Gid.Gid): Effect.Effect<void, ParticipantError> =>
    withValidGid(gid, "commit", (valid) =>
      Effect.suspend(() => {
        remember(valid, "commit")
        return Effect.map(finishPrepared(valid, "COMMIT", "commit"), (done) => {
          if (done) committedCount(1)
        })
      }))

  const abort = (gid: Gid.Gid): Effect.Effect<void, ParticipantError> =>
    withValidGid(gid, "abort", (valid) =>
      Effect.suspend(() => {
        // Remembered before ROLLBACK PREPARED, so a prepare still running in this process sees it.
        remember(valid, "abort")
        return Effect.map(finishPrepared(valid, "ROLLBACK", "abort"), (done) => {
          if (done) rolledBackCount(1)
        })
      }))

  const vote = (result: Participant.Vote): Participant.Vote => {
    if (result._tag === "Yes") votedYes(1)
    else votedNo(1)
    return result
  }

  // As a resource (recovery): Yes only when the branch is prepared in this database.
  const prepareResource = (gid: Gid.Gid): Effect.Effect<Participant.Vote, ParticipantError> =>
    Either.match(checkGid(gid), {
      onLeft: (error) => Effect.succeed(vote(Participant.no(error.message))),
      onRight: (valid) =>
        Effect.mapBoth(isPreparedOnPool(valid), {
          onFailure: sqlFailure(valid, "prepare", "could not read pg_prepared_xacts"),
          onSuccess: (prepared) =>
            vote(prepared ? Participant.yes : Participant.no("no prepared transaction with this gid"))
        })
    })

  const branch = <A, E, R>(
    work: Effect.Effect<A, E, R>
  ): Participant.Participant<Exclude<R, SqlClient.SqlClient>> => {
    const prepareBranch = (
      gid: Gid.Gid
    ): Effect.Effect<Participant.Vote, ParticipantError, Exclude<R, SqlClient.SqlClient>> =>
      Effect.scoped(Effect.gen(function*() {
        const conn = yield* Effect.mapError(
          sql.reserve,
          sqlFailure(gid, "prepare", "could not reserve a connection")
        )
        let phase: Phase = "idle"
        let backendPid: number | undefined = undefined
        // Runs before the connection goes back to the pool (finalizers run last-added first). On an
        // interruption the statement in flight was cancelled, but it may still complete: this
        // ROLLBACK queues behind it on the same connection, so once it returns PREPARE has either
        // happened or not. A connection that cannot be rolled back is terminated, never pooled.
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            if (phase === "idle" || phase === "done") return Effect.void
            const wasPreparing = phase === "preparing"
            phase = "done"
            const rollback = conn.executeUnprepared("ROLLBACK", [], undefined)
            const terminate: Effect.Effect<unknown, unknown> = backendPid === undefined
              ? Effect.void
              : outsideTransaction(sql.unsafe("SELECT pg_terminate_backend($1)", [backendPid]))
            const afterPrepare: Effect.Effect<unknown, unknown> = wasPreparing && decisions.get(gid) === "abort"
              ? finishPrepared(gid, "ROLLBACK", "abort")
              : Effect.void
            return rollback.pipe(
              Effect.asVoid,
              Effect.retry({ times: 1 }),
              Effect.catchAll(() => terminate),
              Effect.zipRight(afterPrepare),
              Effect.ignore
            )
          })
        )
        phase = "open"
        const begin = `BEGIN; SET LOCAL lock_timeout = '${lockTimeoutMillis}ms'; SELECT pg_backend_pid() AS pid`
        const started = yield* Effect.mapError(
          conn.executeUnprepared(begin, [], undefined),
          sqlFailure(gid, "prepare", "BEGIN failed")
        )
        backendPid = pidOf(started)
        const outcome = yield* Effect.either(
          Effect.provideService(
            Effect.provideService(work, SqlClient.TransactionConnection, [conn, 0] as const),
            SqlClient.SqlClient,
            sql
          ) as Effect.Effect<A, E, Exclude<R, SqlClient.SqlClient>>
        )
        const rollbackNow = Effect.mapError(
          Effect.tap(conn.executeUnprepared("ROLLBACK", [], undefined), () => {
            phase = "done"
          }),
          sqlFailure(gid, "prepare", "ROLLBACK failed")
        )
        if (Either.isLeft(outcome)) {
          yield* rollbackNow
          // A duplicate prepare of this gid (running concurrently) may have prepared the branch while
          // this one waited for its locks: the branch is prepared, so the vote is Yes.
          const preparedByDuplicate = yield* Effect.mapError(
            isPreparedOn(conn, gid),
            sqlFailure(gid, "prepare", "could not read pg_prepared_xacts")
          )
          return vote(preparedByDuplicate ? Participant.yes : Participant.no(describe(outcome.left)))
        }
        if (decisions.get(gid) === "abort") {
          yield* rollbackNow
          return vote(Participant.no("aborted before it was prepared"))
        }
        phase = "preparing"
        const prepared = yield* conn.executeRaw(`PREPARE TRANSACTION ${literal(transactionId(gid))}`, [])
          .pipe(
            Effect.tap(() => {
              phase = "done"
            }),
            // PostgreSQL answers PREPARE TRANSACTION with the command tag "PREPARE TRANSACTION" when
            // it prepared the branch and "ROLLBACK" when the transaction had failed; anything else
            // (an unknown driver) is settled by reading pg_prepared_xacts.
            Effect.flatMap((result) => {
              const tag = commandOf(result)
              return tag === "PREPARE" ? Effect.succeed(true) : tag === "ROLLBACK" ? Effect.succeed(false) : isPreparedOn(conn, gid)
            }),
            // 42710: the identifier is in use, i.e. a duplicate prepare of this gid won the race.
            Effect.catchAll((error) =>
              sqlState(error) === "42710"
                ? Effect.zipRight(
                  Effect.ignore(conn.executeUnprepared("ROLLBACK", [], undefined)),
                  Effect.tap(isPreparedOnPool(gid), () => {
                    phase = "done"
                  })
                )
                : Effect.fail(error)
            ),
            Effect.mapError(sqlFailure(gid, "prepare", "PREPARE TRANSACTION failed"))
          )
        if (!prepared) {
          // The work left the transaction failed (an error it caught itself): PostgreSQL answered
          // PREPARE with ROLLBACK and prepared nothing.
          return vote(Participant.no("the transaction had failed; PostgreSQL rolled it back instead of preparing it"))
        }
        if (decisions.get(gid) === "abort") {
          // An abort overtook this prepare: undo it here, since the abort's ROLLBACK PREPARED may
          // have found nothing yet.
          yield* finishPrepared(gid, "ROLLBACK", "abort")
          return vote(Participant.no("aborted while it was being prepared"))
        }
        remember(gid, "prepared")
        return vote(Participant.yes)
      }))

    return {
      id,
      prepare: (gid) =>
        Either.match(checkGid(gid), {
          onLeft: (error): Effect.Effect<Participant.Vote, ParticipantError, Exclude<R, SqlClient.SqlClient>> =>
            Effect.succeed(vote(Participant.no(error.message))),
          onRight: (valid) =>
            Effect.suspend(() => {
              const known = decisions.get(valid)
              if (known === "abort") return Effect.succeed(vote(Participant.no("already aborted")))
              if (known === "commit" || known === "prepared") return Effect.succeed(vote(Participant.yes))
              // Not prepared by this instance. A branch prepared elsewhere (another process, before a
              // restart) is found without an extra round trip: the work then waits for the prepared
              // branch's locks or PREPARE answers 42710, and both paths read pg_prepared_xacts.
              return prepareBranch(valid)
            })
        }),
      commit,
      abort
    }
  }

  const listPrepared = (
    olderThanSeconds: number
  ): Effect.Effect<ReadonlyArray<PreparedTransaction>, ParticipantError> =>
    outsideTransaction(
      sql.unsafe<{ readonly gid: string; readonly prepared: Date }>(
        "SELECT gid, prepared FROM pg_prepared_xacts WHERE database = current_database() " +
          "AND prepared <= clock_timestamp() - make_interval(secs => $1::double precision) ORDER BY prepared",
        [olderThanSeconds]
      )
    ).pipe(
      Effect.map((rows) =>
        rows.flatMap((row) =>
          row.gid.startsWith(options.gidPrefix) && row.gid.endsWith(suffix)
            ? [{
              gid: row.gid.slice(0, row.gid.length - suffix.length),
              transaction: row.gid,
              preparedAt: row.prepared instanceof Date ? row.prepared : new Date(row.prepared)
            }]
            : []
        )
      ),
      Effect.mapError(sqlFailure("*", "prepare", "could not read pg_prepared_xacts"))
    )

  const standingDecision = (
    log: TransactionLog.Service,
    gid: string
  ): Effect.Effect<TransactionLog.Decision, TransactionLogError> =>
    Effect.flatMap(log.get(gid), (record) => {
      if (Option.isNone(record)) return Effect.succeed("abort" as const)
      if (record.value.decision !== undefined) return Effect.succeed(record.value.decision)
      // Presumed abort; `decide` fences a slow coordinator that is still alive.
      return Effect.catchTag(log.decide(gid, "abort"), "TransactionNotFound", () => Effect.succeed("abort" as const))
    })

  const sweep: PgParticipant["sweep"] = (log, sweepOptions) =>
    Effect.gen(function*() {
      const olderThan = Duration.decode(sweepOptions?.olderThan ?? 0)
      const seconds = Duration.isFinite(olderThan) ? Duration.toMillis(olderThan) / 1000 : Number.MAX_SAFE_INTEGER
      const orphans = yield* listPrepared(seconds)
      const committed: Array<string> = []
      const rolledBack: Array<string> = []
      for (const orphan of orphans) {
        const gid = yield* Effect.mapError(
          validateGid(orphan.gid),
          (error) => fail(orphan.gid, "abort", error.message, error)
        )
        const decision = yield* standingDecision(log, gid)
        if (decision === "commit") {
          remember(gid, "commit")
          if (yield* finishPrepared(gid, "COMMIT", "commit")) {
            committedCount(1)
            committed.push(gid)
          }
        } else {
          remember(gid, "abort")
          if (yield* finishPrepared(gid, "ROLLBACK", "abort")) {
            rolledBackCount(1)
            rolledBack.push(gid)
          }
        }
      }
      sweptCount(committed.length + rolledBack.length)
      return { committed, rolledBack }
    })

  return {
    [TypeId]: TypeId,
    id,
    gidPrefix: options.gidPrefix,
    transactionId,
    prepare: prepareResource,
    commit,
    abort,
    branch,
    prepared: listPrepared(0),
    sweep
  }
}

/** The command of a node-postgres result (the first word of PostgreSQL's command tag). */
const commandOf = (result: unknown): string | undefined =>
  typeof result === "object" && result !== null && "command" in result && typeof result.command === "string"
    ? result.command
    : undefined

const pidOf = (results: ReadonlyArray<unknown>): number | undefined => {
  // A multi-statement simple query answers one row list per statement; the pid is in the last.
  const last: unknown = results[results.length - 1]
  const rows = Array.isArray(last) ? last : results
  const row: unknown = rows[0]
  if (typeof row === "object" && row !== null && "pid" in row && typeof row.pid === "number") return row.pid
  return undefined
}
