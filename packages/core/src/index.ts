/**
 * Building blocks every Rampart package shares: options schemas and their decoding, time and
 * timers from `Clock`, event hubs and instance metrics.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as EventHub from "./EventHub.js"

/** @since 0.1.0 */
export * as InstanceMetrics from "./InstanceMetrics.js"

/** @since 0.1.0 */
export * as Options from "./Options.js"

/** @since 0.1.0 */
export * as Redis from "./Redis.js"

/** @since 0.1.0 */
export * as Timers from "./Timers.js"

export {
  /** @since 0.1.0 */
  InvalidOptions
} from "./Options.js"
