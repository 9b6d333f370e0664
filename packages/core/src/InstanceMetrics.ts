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
