/**
 * @rampart/resilience: fault tolerance for Effect. Every policy is a `Policy`, so any of them
 * compose with `Policy.compose`, and a whole pipeline can be built from configuration with
 * `Pipeline`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AdaptiveConcurrency from "./AdaptiveConcurrency.js"
/** @since 0.1.0 */
export * as Backpressure from "./Backpressure.js"
/** @since 0.1.0 */
export * as Bulkhead from "./Bulkhead.js"
/** @since 0.1.0 */
export * as CircuitBreaker from "./CircuitBreaker.js"
/** @since 0.1.0 */
export * as Errors from "./Errors.js"
/** @since 0.1.0 */
export * as Fallback from "./Fallback.js"
/** @since 0.1.0 */
export * as Hedge from "./Hedge.js"
/** @since 0.1.0 */
export * as Pipeline from "./Pipeline.js"
/** @since 0.1.0 */
export * as Policy from "./Policy.js"
/** @since 0.1.0 */
export * as RateLimiter from "./RateLimiter.js"
/** @since 0.1.0 */
export * as RateLimiterStore from "./RateLimiterStore.js"
/** @since 0.1.0 */
export * as Retry from "./Retry.js"
/** @since 0.1.0 */
export * as RetryBudget from "./RetryBudget.js"
/** @since 0.1.0 */
export * as Timeout from "./Timeout.js"

export {
  /** @since 0.1.0 */
  BulkheadFull,
  /** @since 0.1.0 */
  CircuitBreakerOpen,
  /** @since 0.1.0 */
  ConcurrencyLimited,
  /** @since 0.1.0 */
  InvalidOptions,
  /** @since 0.1.0 */
  LoadShed,
  /** @since 0.1.0 */
  RateLimited,
  /** @since 0.1.0 */
  TimeoutExceeded
} from "./Errors.js"
