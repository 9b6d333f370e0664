/**
 * Options schemas shared by every Rampart module, and the decoding that turns a bad value into
 * `InvalidOptions` naming each offending field.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Either, Option, ParseResult, Schema } from "effect"

/**
 * Raised by a constructor or `update` when its options do not decode; `message` names each
 * offending field.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidOptions extends Schema.TaggedError<InvalidOptions>("@rampart/core/InvalidOptions")(
  "InvalidOptions",
  {
    module: Schema.String,
    issues: Schema.Array(Schema.String)
  }
) {
  override get message(): string {
    return `invalid ${this.module} options: ${this.issues.join("; ")}`
  }
}

/**
 * A duration given as a `Duration`, a number of milliseconds, or a string Effect understands
 * ("250 millis", "30 seconds"). Decodes to a `Duration`, so options read from JSON or a
 * `ConfigProvider` and options written in code share one schema.
 */
const DurationFromString = Schema.transformOrFail(Schema.String, Schema.DurationFromSelf, {
  strict: true,
  decode: (input, _, ast) =>
    Option.match(Duration.decodeUnknown(input), {
      onNone: () =>
        ParseResult.fail(new ParseResult.Type(ast, input, `Expected a duration such as "250 millis" or "5 seconds"`)),
      onSome: ParseResult.succeed
    }),
  encode: (duration) => ParseResult.succeed(Duration.format(duration))
})

/**
 * A duration given as a `Duration`, milliseconds, or a string like "5 seconds".
 *
 * @since 0.1.0
 * @category schemas
 */
export const DurationInput = Schema.Union(
  Schema.DurationFromSelf,
  Schema.DurationFromMillis.pipe(Schema.annotations({ description: "milliseconds" })),
  DurationFromString
).annotations({ identifier: "DurationInput", description: "a Duration, milliseconds, or a string like \"5 seconds\"" })

/**
 * A duration that must be greater than zero.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PositiveDuration = DurationInput.pipe(
  Schema.filter((d) => Duration.greaterThan(d, Duration.zero) || "Expected a duration greater than zero")
)

/**
 * A duration that may be zero.
 *
 * @since 0.1.0
 * @category schemas
 */
export const NonNegativeDuration = DurationInput.pipe(
  Schema.filter((d) => Duration.greaterThanOrEqualTo(d, Duration.zero) || "Expected a duration of zero or more")
)

/**
 * @since 0.1.0
 * @category schemas
 */
export const PositiveInt = Schema.Int.pipe(Schema.positive())
/**
 * @since 0.1.0
 * @category schemas
 */
export const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())
/**
 * @since 0.1.0
 * @category schemas
 */
export const PositiveNumber = Schema.Number.pipe(Schema.positive(), Schema.finite())
/**
 * A fraction in [0, 1], for rates and thresholds.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Ratio = Schema.Number.pipe(Schema.between(0, 1))
/**
 * An instance name: a non-empty string.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Name = Schema.String.pipe(Schema.minLength(1))

const formatIssues = (error: ParseResult.ParseError): ReadonlyArray<string> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`
  )

/**
 * Decodes options with their schema. A bad value fails with `InvalidOptions` whose message names
 * every offending field, e.g. `invalid CircuitBreaker options: failureRateThreshold: Expected a
 * number between 0 and 1, actual 1.5`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeOptions = <A, I>(
  module: string,
  schema: Schema.Schema<A, I>
): (input: I) => Effect.Effect<A, InvalidOptions> => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })
  return (input) =>
    Either.match(decode(input), {
      onLeft: (error) => Effect.fail(new InvalidOptions({ module, issues: formatIssues(error) })),
      onRight: Effect.succeed
    })
}

/**
 * The synchronous form of `decodeOptions`, for `update` paths that are already inside `Effect.suspend`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeOptionsEither = <A, I>(
  module: string,
  schema: Schema.Schema<A, I>
): (input: I) => Either.Either<A, InvalidOptions> => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })
  return (input) => Either.mapLeft(decode(input), (error) => new InvalidOptions({ module, issues: formatIssues(error) }))
}
