/**
 * The options schemas of the SQL transaction logs.
 */
import { decodeOptions, DurationInput, PositiveInt } from "@rampart/core/Options"
import { Duration, Schema } from "effect"

/** Lower-case SQL identifier start, so `<prefix>transactions_active` stays under PostgreSQL's 63 bytes. */
export const TablePrefix = Schema.String.pipe(
  Schema.pattern(/^[a-z_][a-z0-9_]{0,30}$/, {
    message: () => "a table prefix is 1 to 31 characters from [a-z0-9_], not starting with a digit"
  })
)

const tablePrefix = Schema.optionalWith(TablePrefix, { default: () => "rampart_" })

export const SqlLogOptions = Schema.Struct({ tablePrefix })

export const SqliteLogOptions = Schema.Struct({
  filename: Schema.String.pipe(Schema.minLength(1, { message: () => "a file name is required" })),
  tablePrefix,
  busyTimeout: Schema.optionalWith(
    DurationInput.pipe(
      Schema.filter((d) => Duration.toMillis(d) >= 0 && Duration.isFinite(d) || "a finite, non-negative duration")
    ),
    { default: () => Duration.seconds(5) }
  )
})

const Port = Schema.Int.pipe(Schema.between(1, 65535))

export const PgLogOptions = Schema.Struct({
  url: Schema.optional(Schema.RedactedFromSelf(Schema.String)),
  host: Schema.optional(Schema.String),
  port: Schema.optional(Port),
  database: Schema.optional(Schema.String),
  username: Schema.optional(Schema.String),
  password: Schema.optional(Schema.RedactedFromSelf(Schema.String)),
  maxConnections: Schema.optional(PositiveInt),
  tablePrefix
})

export const decodeSqlLogOptions = decodeOptions("TransactionLog", SqlLogOptions)
export const decodeSqliteLogOptions = decodeOptions("TransactionLog", SqliteLogOptions)
export const decodePgLogOptions = decodeOptions("TransactionLog", PgLogOptions)
