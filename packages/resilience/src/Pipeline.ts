/**
 * Resilience pipelines that operators configure without code. A pipeline is built from a plain
 * object (from code, a JSON string, or a `ConfigProvider`), validated by the schemas of the
 * policies it names, composed in a fixed order (timeout > retry > circuit breaker > rate limiter >
 * bulkhead unless `order` says otherwise), and reconfigured live: thresholds and limits change
 * without recreating the policies or losing their state.
 *
 * @since 0.1.0
 */
import type { Config, ConfigError, Context, Effect, Schema } from "effect"
import { Layer } from "effect"
import type * as Bulkhead from "./Bulkhead.js"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import type { BulkheadFull, CircuitBreakerOpen, InvalidOptions, RateLimited, TimeoutExceeded } from "./Errors.js"
import * as internal from "./internal/pipeline.js"
import type * as Policy from "./Policy.js"
import type * as RateLimiter from "./RateLimiter.js"
import type * as Retry from "./Retry.js"
import type * as Timeout from "./Timeout.js"

/**
 * @since 0.1.0
 * @category symbols
 */
export const TypeId: unique symbol = internal.TypeId as TypeId

/**
 * @since 0.1.0
 * @category symbols
 */
export type TypeId = typeof TypeId

/**
 * The policies a pipeline can hold.
 *
 * @since 0.1.0
 * @category models
 */
export type PolicyKind = typeof internal.PolicyKind.Type

/**
 * The default order, outermost first.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultOrder: ReadonlyArray<PolicyKind> = internal.kinds

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/**
 * A pipeline's configuration: a name, and one section per policy with that policy's options
 * (without `name`: members are named `<pipeline>.<kind>`).
 *
 * @since 0.1.0
 * @category options
 */
export interface PipelineConfig {
  readonly name: string
  /** Outermost first; every configured policy must appear. */
  readonly order?: ReadonlyArray<PolicyKind>
  readonly timeout?: Omit<Timeout.TimeoutOptionsInput, "name">
  readonly retry?: Omit<Retry.RetryOptionsInput, "name">
  readonly circuitBreaker?: Omit<CircuitBreaker.CircuitBreakerOptionsInput, "name">
  readonly rateLimiter?: DistributiveOmit<RateLimiter.RateLimiterOptionsInput, "name">
  readonly bulkhead?: Omit<Bulkhead.BulkheadOptionsInput, "name">
}

/**
 * The outer shape of a `PipelineConfig`, as a schema (each section is validated by its policy).
 *
 * @since 0.1.0
 * @category options
 */
export const PipelineShape: Schema.Schema<Schema.Schema.Type<typeof internal.PipelineShape>> = internal.PipelineShape

/**
 * Live changes to a pipeline: per section, the options to change.
 *
 * @since 0.1.0
 * @category options
 */
export interface PipelineChanges {
  readonly timeout?: Partial<Timeout.TimeoutOptionsInput>
  readonly retry?: Retry.RetryUpdate
  readonly circuitBreaker?: CircuitBreaker.CircuitBreakerUpdate
  readonly rateLimiter?: Partial<RateLimiter.RateLimiterOptionsInput>
  readonly bulkhead?: Bulkhead.BulkheadUpdate
}

/**
 * The errors a pipeline may add to the calls it protects.
 *
 * @since 0.1.0
 * @category errors
 */
export type PipelineError = TimeoutExceeded | CircuitBreakerOpen | RateLimited | BulkheadFull

/**
 * A composed pipeline. It is a `Policy`, and it gives access to its members.
 *
 * @since 0.1.0
 * @category models
 */
export interface Pipeline extends Policy.Policy<PipelineError> {
  readonly [TypeId]: TypeId
  readonly order: ReadonlyArray<PolicyKind>
  readonly timeout: Timeout.Timeout | undefined
  readonly retry: Retry.Retry | undefined
  readonly circuitBreaker: CircuitBreaker.CircuitBreaker | undefined
  readonly rateLimiter: RateLimiter.RateLimiter | undefined
  readonly bulkhead: Bulkhead.Bulkhead | undefined
  /** Applies changes to the live members; every section is validated, and all issues are reported together. */
  readonly reconfigure: (changes: PipelineChanges) => Effect.Effect<void, InvalidOptions>
}

/**
 * Builds a pipeline from a configuration object. Every bad field of every section is reported
 * at once, each prefixed with its section: `circuitBreaker.trip.threshold: Expected a positive
 * number, actual 0`.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * import { Effect } from "effect"
 * import { Pipeline } from "@rampart/resilience"
 *
 * const program = Effect.gen(function*() {
 *   const payments = yield* Pipeline.make({
 *     name: "payments",
 *     timeout: { duration: "2 seconds" },
 *     retry: { maxAttempts: 3 },
 *     circuitBreaker: { trip: { _tag: "Consecutive", threshold: 5 }, openDuration: "30 seconds" },
 *     bulkhead: { maxConcurrent: 10, maxQueued: 50 }
 *   })
 *   return yield* chargeCard.pipe(payments.apply)
 * })
 */
export const make: (config: PipelineConfig) => Effect.Effect<Pipeline, InvalidOptions> = internal.make

/**
 * Builds a pipeline from a JSON document.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromJson: (json: string) => Effect.Effect<Pipeline, InvalidOptions> = internal.fromJson

/**
 * Reads a pipeline configuration, as JSON, from the `ConfigProvider` at `key` (an environment
 * variable such as `PAYMENTS_PIPELINE` with the default provider).
 *
 * @since 0.1.0
 * @category constructors
 */
export const config: (key: string) => Config.Config<PipelineConfig> = internal.config

/**
 * Reads the configuration at `key` and builds the pipeline.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConfig: (key: string) => Effect.Effect<Pipeline, InvalidOptions | ConfigError.ConfigError> =
  internal.fromConfig

/**
 * A layer that provides a pipeline built from the configuration at `key` under your own tag.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * import { Context } from "effect"
 * import { Pipeline } from "@rampart/resilience"
 *
 * class PaymentsPolicy extends Context.Tag("PaymentsPolicy")<PaymentsPolicy, Pipeline.Pipeline>() {}
 * const PaymentsPolicyLive = Pipeline.layerConfig(PaymentsPolicy, "PAYMENTS_PIPELINE")
 */
export const layerConfig = <I>(
  tag: Context.Tag<I, Pipeline>,
  key: string
): Layer.Layer<I, InvalidOptions | ConfigError.ConfigError> => Layer.effect(tag, internal.fromConfig(key))

/**
 * A layer that provides a pipeline built from a configuration object under your own tag.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <I>(tag: Context.Tag<I, Pipeline>, config: PipelineConfig): Layer.Layer<I, InvalidOptions> =>
  Layer.effect(tag, internal.make(config))

/**
 * Applies changes to a live pipeline.
 *
 * @since 0.1.0
 * @category combinators
 */
export const reconfigure = (pipeline: Pipeline, changes: PipelineChanges): Effect.Effect<void, InvalidOptions> =>
  pipeline.reconfigure(changes)
