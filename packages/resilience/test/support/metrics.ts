/** Reading Effect metrics back in tests. */
import { Effect, Metric, MetricState } from "effect"

/** The count of the counter `name` whose labels are exactly `tags` (0 when it has not been created). */
export const counter = (name: string, tags: Record<string, string>): Effect.Effect<number> =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find((pair) =>
      pair.metricKey.name === name &&
      pair.metricKey.tags.length === Object.keys(tags).length &&
      pair.metricKey.tags.every((tag) => tags[tag.key] === tag.value)
    )
    return pair !== undefined && MetricState.isCounterState(pair.metricState) ? Number(pair.metricState.count) : 0
  })

/** Current values of the metrics labelled `name=<instance>`, keyed by metric name and extra labels. */
export const metricValues = (instance: string): Effect.Effect<Map<string, number>> =>
  Effect.map(Metric.snapshot, (pairs) => {
    const values = new Map<string, number>()
    for (const pair of pairs) {
      const labels = pair.metricKey.tags
      if (!labels.some((label) => label.key === "name" && label.value === instance)) continue
      const extra = labels.filter((label) => label.key !== "name").map((label) => `${label.key}=${label.value}`)
      const key = extra.length === 0 ? pair.metricKey.name : `${pair.metricKey.name}{${extra.join(",")}}`
      const state = pair.metricState as unknown as { readonly count?: number | bigint; readonly value?: number }
      values.set(key, Number(state.value ?? state.count ?? Number.NaN))
    }
    return values
  })
