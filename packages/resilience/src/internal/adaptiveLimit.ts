/**
 * Limit algorithms for the adaptive concurrency limiter, after Netflix concurrency-limits
 * (https://github.com/Netflix/concurrency-limits: AIMDLimit, Gradient2Limit). Each is a small
 * mutable state machine fed one sample per completed call; `estimate` may be fractional and the
 * limiter enforces its floor.
 */

export interface Bounds {
  readonly minLimit: number
  readonly maxLimit: number
}

export interface AimdConfig extends Bounds {
  readonly backoffRatio: number
  /** A call slower than this counts as a drop, in milliseconds. */
  readonly timeoutMillis: number
}

export interface Gradient2Config extends Bounds {
  readonly smoothing: number
  readonly rttTolerance: number
  readonly longWindow: number
  readonly queueSize: number
}

export interface LimitAlgorithm {
  /** The current estimate, within [minLimit, maxLimit]. */
  estimate: number
  /**
   * Feeds one completed call: its round-trip time in milliseconds, the calls in flight when it
   * started (itself included), and whether it was a drop (overload signal or timeout).
   */
  readonly sample: (rttMillis: number, inFlight: number, didDrop: boolean) => void
}

const clamp = (value: number, bounds: Bounds): number => Math.min(bounds.maxLimit, Math.max(bounds.minLimit, value))

/**
 * Additive increase, multiplicative decrease (as TCP congestion control): a drop or a call slower
 * than `timeout` multiplies the limit by `backoffRatio`; a good call while at least half the limit
 * is in use adds one. While the limit is far from used it does not grow (nothing shows it could).
 */
export class Aimd implements LimitAlgorithm {
  estimate: number
  constructor(public config: AimdConfig, initial: number) {
    this.estimate = clamp(Math.floor(initial), config)
  }

  sample(rttMillis: number, inFlight: number, didDrop: boolean): void {
    const limit = this.estimate
    if (didDrop || rttMillis > this.config.timeoutMillis) {
      this.estimate = clamp(Math.floor(limit * this.config.backoffRatio), this.config)
    } else if (inFlight * 2 >= limit) {
      this.estimate = clamp(limit + 1, this.config)
    }
  }
}

/** Warm-up samples averaged plainly before the exponential average takes over (as Netflix's ExpAvgMeasurement). */
const LONG_RTT_WARMUP = 10

/**
 * Gradient2: compares the short-term RTT (the last sample) with a long-term exponentially smoothed
 * RTT. `gradient = clamp(rttTolerance * longRtt / shortRtt, 0.5, 1)` is 1 while latency holds and
 * falls as queues build; the new limit is `limit * gradient + queueSize`, smoothed by `smoothing`
 * and bounded. When latency falls far below the long-term average (after a spell of overload),
 * the average is decayed faster so the limit recovers.
 *
 * Drops: Netflix's Gradient2 reacts to latency alone; here a drop (whose RTT says nothing about
 * queueing, e.g. a fast rejection) is not an RTT sample and halves the target as Netflix's
 * GradientLimit does, smoothed: with the default smoothing the limit falls by 10%.
 */
export class Gradient2 implements LimitAlgorithm {
  estimate: number
  longRtt = 0
  private longRttSum = 0
  private longRttCount = 0

  constructor(public config: Gradient2Config, initial: number) {
    this.estimate = clamp(initial, config)
  }

  private smooth(target: number): void {
    const smoothing = this.config.smoothing
    this.estimate = clamp(this.estimate * (1 - smoothing) + target * smoothing, this.config)
  }

  private addLongRtt(rtt: number): number {
    if (this.longRttCount < LONG_RTT_WARMUP) {
      this.longRttCount++
      this.longRttSum += rtt
      this.longRtt = this.longRttSum / this.longRttCount
    } else {
      const factor = 2 / (this.config.longWindow + 1)
      this.longRtt = this.longRtt * (1 - factor) + rtt * factor
    }
    return this.longRtt
  }

  sample(rttMillis: number, inFlight: number, didDrop: boolean): void {
    if (didDrop) {
      this.smooth(this.estimate / 2)
      return
    }
    const shortRtt = rttMillis
    const longRtt = this.addLongRtt(shortRtt)
    // Latency is back far below the long-term average: let the average catch up faster.
    if (shortRtt > 0 && longRtt / shortRtt > 2) {
      this.longRtt = longRtt * 0.95
    }
    // App-limited: too few calls in flight to say anything about the limit.
    if (inFlight < this.estimate / 2) {
      return
    }
    // A zero RTT (a call that took no measurable time) shows no queueing.
    const gradient = shortRtt > 0
      ? Math.max(0.5, Math.min(1, this.config.rttTolerance * longRtt / shortRtt))
      : 1
    this.smooth(this.estimate * gradient + this.config.queueSize)
  }
}
