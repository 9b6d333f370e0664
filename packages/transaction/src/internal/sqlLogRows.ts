/**
 * What the SQL logs store and read back: JSON text in, rows decoded with a Schema out, and driver
 * errors turned into `TransactionLogError`.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Either, ParseResult, Schema } from "effect"
import { TransactionLogError } from "../Errors.js"
import type * as TransactionLog from "../TransactionLog.js"

export const isSqlError = (u: unknown): u is SqlError =>
  typeof u === "object" && u !== null && "_tag" in u && u._tag === "SqlError"

export const describe = (u: unknown): string =>
  u instanceof Error ? u.message : typeof u === "string" ? u : String(u)

/** A `SqlError`'s own message is generic ("Failed to execute statement"): add the driver's. */
export const toLogError = (operation: string, gid: string | undefined, error: SqlError): TransactionLogError =>
  new TransactionLogError({
    operation,
    ...(gid === undefined ? {} : { gid }),
    reason: error.cause === undefined ? error.message : `${error.message}: ${describe(error.cause)}`,
    cause: error
  })

export const mapSqlError = <A, E>(
  self: Effect.Effect<A, E | SqlError>,
  operation: string,
  gid: string | undefined
): Effect.Effect<A, Exclude<E, SqlError> | TransactionLogError> =>
  Effect.mapError(self, (e) => (isSqlError(e) ? toLogError(operation, gid, e) : e as Exclude<E, SqlError>))

/** Integers come back as numbers (SQLite, PostgreSQL `integer`), strings (PostgreSQL `bigint`) or bigints. */
const Count = Schema.Union(
  Schema.Number,
  Schema.NumberFromString,
  Schema.transform(Schema.BigIntFromSelf, Schema.Number, {
    strict: true,
    decode: (n) => Number(n),
    encode: (n) => BigInt(n)
  })
)

const Flag = Schema.transform(
  Count.pipe(Schema.filter((n) => n === 0 || n === 1 || "0 or 1")),
  Schema.Boolean,
  { strict: true, decode: (n) => n === 1, encode: (b) => (b ? 1 : 0) }
)

const Row = Schema.Struct({
  gid: Schema.String,
  protocol: Schema.Literal("2pc", "3pc", "saga", "tcc"),
  coordinator: Schema.String,
  participants: Schema.parseJson(Schema.Array(Schema.String)),
  payload: Schema.parseJson(),
  decision: Schema.NullOr(Schema.Literal("commit", "abort")),
  finished: Flag,
  created_at: Count,
  updated_at: Count,
  e_seq: Schema.NullOr(Count),
  e_kind: Schema.NullOr(Schema.String),
  e_data: Schema.NullOr(Schema.String),
  e_at: Schema.NullOr(Count)
})

const decodeRow = Schema.decodeUnknownEither(Row)
const decodeJson = Schema.decodeUnknownEither(Schema.parseJson())
export const decodeCount = Schema.decodeUnknownEither(Count)
export const decodeDecision = Schema.decodeUnknownEither(Schema.Literal("commit", "abort"))

export const corrupt = (operation: string, gid: string | undefined, error: ParseResult.ParseError) =>
  new TransactionLogError({
    operation,
    ...(gid === undefined ? {} : { gid }),
    reason: `a stored row does not decode: ${ParseResult.TreeFormatter.formatErrorSync(error)}`
  })

interface Building {
  readonly record: Omit<TransactionLog.TransactionRecord, "entries">
  readonly entries: Array<TransactionLog.Entry>
}

/** Groups `transactions LEFT JOIN entries` rows (ordered by transaction, then seq) into records. */
export const toRecords = (
  operation: string,
  gid: string | undefined,
  rows: ReadonlyArray<unknown>
): Effect.Effect<Array<TransactionLog.TransactionRecord>, TransactionLogError> => {
  const byGid = new Map<string, Building>()
  for (const raw of rows) {
    const decoded = decodeRow(raw)
    if (Either.isLeft(decoded)) return Effect.fail(corrupt(operation, gid, decoded.left))
    const row = decoded.right
    let building = byGid.get(row.gid)
    if (building === undefined) {
      building = {
        record: {
          gid: row.gid,
          protocol: row.protocol,
          coordinator: row.coordinator,
          participants: row.participants,
          payload: row.payload,
          decision: row.decision ?? undefined,
          finished: row.finished,
          createdAt: row.created_at,
          updatedAt: row.updated_at
        },
        entries: []
      }
      byGid.set(row.gid, building)
    }
    if (row.e_seq !== null) {
      const data = decodeJson(row.e_data)
      if (Either.isLeft(data)) return Effect.fail(corrupt(operation, gid, data.left))
      building.entries.push({ seq: row.e_seq, kind: row.e_kind ?? "", data: data.right, at: row.e_at ?? 0 })
    }
  }
  return Effect.succeed(Array.from(byGid.values(), (b) => ({ ...b.record, entries: b.entries })))
}

/**
 * A value as JSON text, as every backend (memory too) stores it. `JSON.stringify` returns
 * `undefined` (no throw) for a function or a symbol: that fails too, or the record would hold a
 * value that cannot be read back.
 */
export const toJson = (operation: string, gid: string, value: unknown): Effect.Effect<string, TransactionLogError> =>
  Effect.flatMap(
    Effect.try({
      try: () => JSON.stringify(value === undefined ? null : value) as string | undefined,
      catch: (cause) => new TransactionLogError({ operation, gid, reason: "the value is not JSON-serialisable", cause })
    }),
    (json) =>
      json === undefined
        ? Effect.fail(new TransactionLogError({ operation, gid, reason: "the value is not JSON-serialisable" }))
        : Effect.succeed(json)
  )
