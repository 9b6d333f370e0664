import { Config, ConfigError, Effect, Either, Schema } from "effect"
import * as Bulkhead from "../Bulkhead.js"
import * as CircuitBreaker from "../CircuitBreaker.js"
import { InvalidOptions } from "../Errors.js"
import type * as Pipeline from "../Pipeline.js"
import * as Policy from "../Policy.js"
import * as RateLimiter from "../RateLimiter.js"
import * as Retry from "../Retry.js"
import * as Timeout from "../Timeout.js"
import { Name } from "@rampart/core/Options"

export const TypeId: Pipeline.TypeId = Symbol.for("@rampart/resilience/Pipeline") as Pipeline.TypeId

export const kinds = ["timeout", "retry", "circuitBreaker", "rateLimiter", "bulkhead"] as const
export const PolicyKind = Schema.Literal(...kinds)

/**
 * The outer shape of a pipeline's configuration. Each section is checked here only as an object:
 * the policy's own options schema validates it when the policy is made, and its messages are
 * prefixed with the section name (`circuitBreaker.trip.threshold: ...`).
 */
export const PipelineShape = Schema.Struct({
  name: Name,
  order: Schema.optional(
    Schema.Array(PolicyKind).pipe(
      Schema.filter((order) => new Set(order).size === order.length || "Expected each policy at most once")
    )
  ),
  timeout: Schema.optional(Schema.Object),
  retry: Schema.optional(Schema.Object),
  circuitBreaker: Schema.optional(Schema.Object),
  rateLimiter: Schema.optional(Schema.Object),
  bulkhead: Schema.optional(Schema.Object)
})

const prefixed = (section: string) => (error: InvalidOptions) =>
  new InvalidOptions({ module: "Pipeline", issues: error.issues.map((issue) => `${section}.${issue}`) })

const shapeError = (error: { readonly message: string }) =>
  new InvalidOptions({ module: "Pipeline", issues: [error.message] })

const decodeShape = Schema.decodeUnknownEither(PipelineShape, { errors: "all", onExcessProperty: "error" })

type Members = {
  timeout?: Timeout.Timeout | undefined
  retry?: Retry.Retry | undefined
  circuitBreaker?: CircuitBreaker.CircuitBreaker | undefined
  rateLimiter?: RateLimiter.RateLimiter | undefined
  bulkhead?: Bulkhead.Bulkhead | undefined
}

const section = <K extends Pipeline.PolicyKind>(config: Pipeline.PipelineConfig, kind: K) =>
  config[kind] as Record<string, unknown> | undefined

const build = (config: Pipeline.PipelineConfig) =>
  Effect.gen(function*() {
    const shape = decodeShape(config)
    if (Either.isLeft(shape)) {
      return yield* Effect.fail(
        new InvalidOptions({
          module: "Pipeline",
          issues: [shape.left.message]
        })
      )
    }
    const name = config.name
    const member = (kind: Pipeline.PolicyKind) => ({ ...section(config, kind), name: `${name}.${kind}` })
    const members: Members = {}
    const issues: Array<string> = []
    const collect = <A>(kind: Pipeline.PolicyKind, made: Effect.Effect<A, InvalidOptions>) =>
      Effect.map(Effect.either(Effect.mapError(made, prefixed(kind))), (result) => {
        if (Either.isLeft(result)) {
          issues.push(...result.left.issues)
          return undefined
        }
        return result.right
      })
    if (config.timeout !== undefined) {
      members.timeout = yield* collect("timeout", Timeout.make(member("timeout") as Timeout.TimeoutOptionsInput))
    }
    if (config.retry !== undefined) {
      members.retry = yield* collect("retry", Retry.make(member("retry") as Retry.RetryOptionsInput))
    }
    if (config.circuitBreaker !== undefined) {
      members.circuitBreaker = yield* collect(
        "circuitBreaker",
        CircuitBreaker.make(member("circuitBreaker") as CircuitBreaker.CircuitBreakerOptionsInput)
      )
    }
    if (config.rateLimiter !== undefined) {
      members.rateLimiter = yield* collect(
        "rateLimiter",
        RateLimiter.make(member("rateLimiter") as RateLimiter.RateLimiterOptionsInput)
      )
    }
    if (config.bulkhead !== undefined) {
      members.bulkhead = yield* collect("bulkhead", Bulkhead.make(member("bulkhead") as Bulkhead.BulkheadOptionsInput))
    }
    if (issues.length > 0) return yield* Effect.fail(new InvalidOptions({ module: "Pipeline", issues }))
    const order = config.order ?? kinds
    const missing = kinds.filter((kind) => config[kind] !== undefined && !order.includes(kind))
    if (missing.length > 0) {
      return yield* Effect.fail(
        new InvalidOptions({
          module: "Pipeline",
          issues: [`order: ${missing.join(", ")} configured but missing from the order`]
        })
      )
    }
    const policies = order.flatMap((kind): ReadonlyArray<Policy.Policy<unknown, unknown>> => {
      const policy = members[kind]
      return policy === undefined ? [] : [policy]
    })
    return new PipelineImpl(name, order, members, Policy.compose(...policies))
  })

class PipelineImpl implements Pipeline.Pipeline {
  readonly [TypeId]: Pipeline.TypeId = TypeId
  readonly [Policy.PolicyTypeId]: Policy.PolicyTypeId = Policy.PolicyTypeId
  readonly apply: Pipeline.Pipeline["apply"]

  constructor(
    readonly name: string,
    readonly order: ReadonlyArray<Pipeline.PolicyKind>,
    readonly members: Members,
    composed: Policy.Policy<unknown, unknown>
  ) {
    this.apply = composed.apply as Pipeline.Pipeline["apply"]
  }

  get timeout() {
    return this.members.timeout
  }
  get retry() {
    return this.members.retry
  }
  get circuitBreaker() {
    return this.members.circuitBreaker
  }
  get rateLimiter() {
    return this.members.rateLimiter
  }
  get bulkhead() {
    return this.members.bulkhead
  }

  reconfigure(changes: Pipeline.PipelineChanges): Effect.Effect<void, InvalidOptions> {
    const members = this.members
    return Effect.gen(function*() {
      const absent = kinds.filter((kind) => changes[kind] !== undefined && members[kind] === undefined)
      if (absent.length > 0) {
        return yield* Effect.fail(
          new InvalidOptions({
            module: "Pipeline",
            issues: absent.map((kind) => `${kind}: not in this pipeline; build a new pipeline to add a policy`)
          })
        )
      }
      const issues: Array<string> = []
      const apply = (kind: Pipeline.PolicyKind, update: Effect.Effect<void, InvalidOptions>) =>
        Effect.catchAll(Effect.mapError(update, prefixed(kind)), (error) =>
          Effect.sync(() => {
            issues.push(...error.issues)
          }))
      if (changes.timeout !== undefined && members.timeout !== undefined) {
        yield* apply("timeout", Timeout.update(members.timeout, changes.timeout))
      }
      if (changes.retry !== undefined && members.retry !== undefined) {
        yield* apply("retry", Retry.update(members.retry, changes.retry))
      }
      if (changes.circuitBreaker !== undefined && members.circuitBreaker !== undefined) {
        yield* apply("circuitBreaker", CircuitBreaker.update(members.circuitBreaker, changes.circuitBreaker))
      }
      if (changes.rateLimiter !== undefined && members.rateLimiter !== undefined) {
        yield* apply("rateLimiter", RateLimiter.update(members.rateLimiter, changes.rateLimiter))
      }
      if (changes.bulkhead !== undefined && members.bulkhead !== undefined) {
        yield* apply("bulkhead", Bulkhead.update(members.bulkhead, changes.bulkhead))
      }
      if (issues.length > 0) return yield* Effect.fail(new InvalidOptions({ module: "Pipeline", issues }))
    })
  }
}

export const make = (config: Pipeline.PipelineConfig): Effect.Effect<Pipeline.Pipeline, InvalidOptions> =>
  build(config)

const decodeJson = Schema.decodeUnknownEither(Schema.parseJson(Schema.Object))

export const fromJson = (json: string): Effect.Effect<Pipeline.Pipeline, InvalidOptions> =>
  Effect.suspend(() => {
    const parsed = decodeJson(json)
    if (Either.isLeft(parsed)) return Effect.fail(shapeError(parsed.left))
    return build(parsed.right as Pipeline.PipelineConfig)
  })

export const config = (key: string): Config.Config<Pipeline.PipelineConfig> =>
  Config.string(key).pipe(
    Config.mapOrFail((text) => {
      const parsed = decodeJson(text)
      if (Either.isLeft(parsed)) {
        return Either.left(ConfigError.InvalidData([key], `Expected a JSON pipeline configuration: ${parsed.left.message}`))
      }
      const shape = decodeShape(parsed.right)
      if (Either.isLeft(shape)) return Either.left(ConfigError.InvalidData([key], shape.left.message))
      return Either.right(parsed.right as Pipeline.PipelineConfig)
    })
  )

export const fromConfig = (key: string): Effect.Effect<Pipeline.Pipeline, InvalidOptions | ConfigError.ConfigError> =>
  Effect.flatMap(config(key), build)
