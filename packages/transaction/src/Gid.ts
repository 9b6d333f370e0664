/**
 * Global transaction ids. A gid travels to every participant and, for PostgreSQL, into
 * `PREPARE TRANSACTION '<gid>'`, which takes a literal and no parameter. So a gid is strict:
 * 1 to 128 characters from `[A-Za-z0-9_.:-]` (ASCII, so well under PostgreSQL's 199 bytes, and
 * never anything that needs quoting).
 *
 * @since 0.1.0
 */
import { Clock, Effect, Either, ParseResult, Random, Schema } from "effect"
import { InvalidGid } from "./Errors.js"

/**
 * The characters and length a gid may have.
 *
 * @since 0.1.0
 * @category models
 */
export const pattern: RegExp = /^[A-Za-z0-9_.:-]{1,128}$/

/**
 * A validated, branded gid.
 *
 * @since 0.1.0
 * @category models
 */
export const Gid = Schema.String.pipe(
  Schema.filter((s) => pattern.test(s) || "a gid is 1 to 128 characters from [A-Za-z0-9_.:-]"),
  Schema.brand("@rampart/transaction/Gid")
)

/**
 * @since 0.1.0
 * @category models
 */
export type Gid = typeof Gid.Type

const decode = Schema.decodeUnknownEither(Gid)

/**
 * Checks a string and brands it as a gid, or fails with `InvalidGid`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const validate = (gid: string): Effect.Effect<Gid, InvalidGid> =>
  Either.match(decode(gid), {
    onLeft: (error) =>
      Effect.fail(new InvalidGid({ gid, reason: ParseResult.TreeFormatter.formatErrorSync(error) })),
    onRight: Effect.succeed
  })

/**
 * `true` when `s` is a valid gid.
 *
 * @since 0.1.0
 * @category guards
 */
export const isGid = (s: string): s is Gid => pattern.test(s)

/**
 * Makes a fresh gid `<prefix><time base36>-<random base36>`, from `Clock` and `Random` (so seeded
 * tests get stable ids). The prefix must itself be gid characters; it is how an orphan sweep
 * recognises our prepared transactions.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (prefix: string = "rampart-"): Effect.Effect<Gid, InvalidGid> =>
  Effect.flatMap(
    Effect.zip(Clock.currentTimeMillis, Random.nextIntBetween(0, 2 ** 31 - 1)),
    ([now, r1]) =>
      Effect.flatMap(Random.nextIntBetween(0, 2 ** 31 - 1), (r2) =>
        validate(`${prefix}${now.toString(36)}-${r1.toString(36)}${r2.toString(36)}`)
      )
  )
