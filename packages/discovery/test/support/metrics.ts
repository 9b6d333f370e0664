import { Effect, Metric } from "effect"

/**
 * The current value (a counter's count, a gauge's value) of the metric `metricName` carrying every
 * given label; with `exactLabels`, carrying no other label either. Undefined when none is recorded.
 */
export const metricValue = (
  metricName: string,
  labels: Readonly<Record<string, string>>,
  options: { readonly exactLabels?: boolean } = {}
): Effect.Effect<number | undefined> =>
  Effect.map(Metric.snapshot, (pairs) => {
    const wanted = Object.entries(labels)
    const pair = pairs.find((pair) =>
      pair.metricKey.name === metricName &&
      wanted.every(([key, value]) => pair.metricKey.tags.some((tag) => tag.key === key && tag.value === value)) &&
      (options.exactLabels !== true || pair.metricKey.tags.length === wanted.length)
    )
    const state = pair?.metricState as { readonly count?: number; readonly value?: number } | undefined
    return state?.count ?? state?.value
  })
