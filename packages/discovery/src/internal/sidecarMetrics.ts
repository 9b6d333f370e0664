import { makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import type { HealthStatus } from "../ServiceRegistry.js"

const HEARTBEAT_FAILURES = "rampart_sidecar_heartbeat_failures_total"
const HEARTBEAT_FAILURES_HELP = "heartbeats that failed, by reason"

/** Health as a gauge value. */
export const severity: Record<HealthStatus, number> = { passing: 0, warning: 1, critical: 2 }

/** The metrics of one sidecar (label `name`), as synchronous updaters. */
export interface SidecarMetrics {
  readonly heartbeats: (amount: number) => void
  readonly heartbeatFailures: Record<"InstanceNotFound" | "DiscoveryBackendError", (amount: number) => void>
  readonly reregistrations: (amount: number) => void
  readonly refusals: (amount: number) => void
  readonly deregisterFailures: (amount: number) => void
  readonly abandoned: (amount: number) => void
  readonly registered: (value: number) => void
  readonly status: (value: number) => void
}

export const makeSidecarMetrics = (name: string): SidecarMetrics => {
  const metrics = makeInstanceMetrics(name)
  return {
    heartbeats: metrics.counter("rampart_sidecar_heartbeats_total", "heartbeats sent"),
    heartbeatFailures: {
      InstanceNotFound: metrics.counter(HEARTBEAT_FAILURES, HEARTBEAT_FAILURES_HELP, { reason: "InstanceNotFound" }),
      DiscoveryBackendError: metrics.counter(HEARTBEAT_FAILURES, HEARTBEAT_FAILURES_HELP, {
        reason: "DiscoveryBackendError"
      })
    },
    reregistrations: metrics.counter("rampart_sidecar_reregistrations_total", "registrations after a lapsed lease"),
    refusals: metrics.counter("rampart_sidecar_refused_total", "calls refused while draining"),
    deregisterFailures: metrics.counter(
      "rampart_sidecar_deregister_failures_total",
      "deregistrations on shutdown that failed"
    ),
    abandoned: metrics.counter("rampart_sidecar_abandoned_total", "calls still running at drainTimeout"),
    registered: metrics.gauge("rampart_sidecar_registered", "1 while the instance is registered"),
    status: metrics.gauge("rampart_sidecar_status", "aggregate health: 0 passing, 1 warning, 2 critical")
  }
}
