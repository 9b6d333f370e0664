import type * as api from "../ServiceRegistry.js"

/** The registry's own fields of a view, beside the instance's. */
interface ViewState {
  readonly namespace: string
  readonly status: api.HealthStatus
  readonly output: string | undefined
  readonly registeredAt: number
  readonly lastHeartbeat: number
  readonly leaseExpiresAt: number
}

/** @internal */
export const toView = (instance: api.ServiceInstance, state: ViewState): api.InstanceView => {
  const { output, ...rest } = state
  return Object.freeze(output === undefined ? { ...instance, ...rest } : { ...instance, ...rest, output })
}

/** True when a filter asks for nothing but the default (healthy instances of the service). */
export const isHealthyOnly = (filter: api.DiscoverFilter): boolean =>
  filter.includeUnhealthy !== true && filter.tags === undefined && filter.metadata === undefined &&
  filter.zone === undefined

/** Whether a view passes the tag, metadata and zone criteria of a filter (health is checked by the caller). */
export const matches = (view: api.InstanceView, filter: api.DiscoverFilter): boolean => {
  if (filter.zone !== undefined && view.zone !== filter.zone) return false
  if (filter.tags !== undefined) {
    for (const tag of filter.tags) {
      if (!view.tags.includes(tag)) return false
    }
  }
  if (filter.metadata !== undefined) {
    for (const key in filter.metadata) {
      if (!Object.hasOwn(view.metadata, key) || view.metadata[key] !== filter.metadata[key]) return false
    }
  }
  return true
}

/** Views are immutable, so equal snapshots hold the same objects in the same order. */
export const sameElements = (
  left: ReadonlyArray<api.InstanceView>,
  right: ReadonlyArray<api.InstanceView>
): boolean => {
  if (left === right) return true
  if (left.length !== right.length) return false
  for (let i = 0; i < left.length; i++) {
    if (left[i] !== right[i]) return false
  }
  return true
}
