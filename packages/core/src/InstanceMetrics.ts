/**
 * Effect `Metric`s for one named instance, updated synchronously on hot paths.
 *
 * @since 0.1.0
 */
import { Metric, MetricBoundaries, MetricLabel } from "effect"

/**
 * Metrics for one named policy instance. Every metric is an Effect `Metric` (so any exporter that
 * reads Effect's metric registry sees them), labelled with the instance name. Updates go through
 * `unsafeUpdate` with one label array kept per instance: Effect caches the metric hook per label
 * array, so a hot-path update is a WeakMap hit, not a registry lookup.
 *
 * @since 0.1.0
 * @category models
 */
export interface InstanceMetrics {
  readonly labels: ReadonlyArray<MetricLabel.MetricLabel>
  readonly counter: (name: string, description: string, extra?: Record<string, string>) => (amount: number) => void
  readonly gauge: (name: string, description: string) => (value: number) => void
  readonly histogram: (name: string, description: string) => (value: number) => void
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const makeInstanceMetrics = (name: string, labelKey = "name"): InstanceMetrics => {
  const labels = [MetricLabel.make(labelKey, name)]
  return {
    labels,
    counter: (metricName, description, extra) => {
      const counter = Metric.counter(metricName, { description, incremental: true })
      const withExtra = extra === undefined
        ? labels
        : [...labels, ...Object.entries(extra).map(([key, value]) => MetricLabel.make(key, value))]
      return (amount) => counter.unsafeUpdate(amount, withExtra)
    },
    gauge: (metricName, description) => {
      const gauge = Metric.gauge(metricName, { description })
      return (value) => gauge.unsafeUpdate(value, labels)
    },
    histogram: (metricName, description) => {
      // Latency in milliseconds, 0.1 ms to ~52 s.
      const histogram = Metric.histogram(
        metricName,
        MetricBoundaries.exponential({ start: 0.1, factor: 2, count: 20 }),
        description
      )
      return (value) => histogram.unsafeUpdate(value, labels)
    }
  }
}

/**
 * One counter of a `makeDeltaPublisher`: the field of the source that counts it, the metric name,
 * its help text, and extra labels beside `name`.
 *
 * @since 0.1.0
 * @category models
 */
export type DeltaCounter<F extends string> = readonly [
  field: F,
  metricName: string,
  description: string,
  extra?: Record<string, string>
]

/**
 * For hot paths that count in plain fields: one Effect metric update costs a few hundred
 * nanoseconds, more than a cache hit, so callers increment numbers and publish their growth as
 * metric deltas now and then (every N operations, on a timer, when stats are read). The returned
 * function publishes what each field grew by since its last call.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDeltaPublisher = <F extends string>(
  metrics: InstanceMetrics,
  counters: ReadonlyArray<DeltaCounter<F>>
): (source: Readonly<Record<F, number>>) => void => {
  const targets = counters.map(([field, metricName, description, extra]) => ({
    field,
    update: metrics.counter(metricName, description, extra),
    published: 0
  }))
  return (source) => {
    for (const target of targets) {
      const delta = source[target.field] - target.published
      if (delta !== 0) {
        target.update(delta)
        target.published = source[target.field]
      }
    }
  }
}
