import { Duration, Effect, Either, Option, ParseResult, Schema } from "effect"
import { InvalidOptions } from "../Errors.js"

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

export const DurationInput = Schema.Union(
  Schema.DurationFromSelf,
  Schema.DurationFromMillis.pipe(Schema.annotations({ description: "milliseconds" })),
  DurationFromString
).annotations({ identifier: "DurationInput", description: "a Duration, milliseconds, or a string like \"5 seconds\"" })

/** A duration that must be greater than zero. */
export const PositiveDuration = DurationInput.pipe(
  Schema.filter((d) => Duration.greaterThan(d, Duration.zero) || "Expected a duration greater than zero")
)

/** A duration that may be zero. */
export const NonNegativeDuration = DurationInput.pipe(
  Schema.filter((d) => Duration.greaterThanOrEqualTo(d, Duration.zero) || "Expected a duration of zero or more")
)

export const PositiveInt = Schema.Int.pipe(Schema.positive())
export const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())
export const PositiveNumber = Schema.Number.pipe(Schema.positive(), Schema.finite())
/** A fraction in [0, 1], for rates and thresholds. */
export const Ratio = Schema.Number.pipe(Schema.between(0, 1))
export const Name = Schema.String.pipe(Schema.minLength(1))

const formatIssues = (error: ParseResult.ParseError): ReadonlyArray<string> =>
  ParseResult.ArrayFormatter.formatErrorSync(error).map((issue) =>
    issue.path.length === 0 ? issue.message : `${issue.path.join(".")}: ${issue.message}`
  )

/**
 * Decodes options with their schema. A bad value fails with `InvalidOptions` whose message names
 * every offending field, e.g. `invalid CircuitBreaker options: failureRateThreshold: Expected a
 * number between 0 and 1, actual 1.5`.
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

/** The synchronous form of `decodeOptions`, for `update` paths that are already inside `Effect.suspend`. */
export const decodeOptionsEither = <A, I>(
  module: string,
  schema: Schema.Schema<A, I>
): (input: I) => Either.Either<A, InvalidOptions> => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "error" })
  return (input) => Either.mapLeft(decode(input), (error) => new InvalidOptions({ module, issues: formatIssues(error) }))
}
