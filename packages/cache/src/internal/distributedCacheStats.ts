import { type DeltaCounter, makeDeltaPublisher, makeInstanceMetrics } from "@rampart/core/InstanceMetrics"
import type * as DC from "../DistributedCache.js"

const METRIC = "rampart_distributed_cache_"

type Field = keyof DC.DistributedCacheStats

/** Stats field, metric name (`rampart_distributed_cache_<name>_total`), help. */
const definitions: ReadonlyArray<DeltaCounter<Field>> = ([
  ["nearHits", "near_hits", "Reads answered by the near cache"],
  ["nearMisses", "near_misses", "Reads the near cache could not answer"],
  ["remoteGets", "remote_gets", "Keys read from the store"],
  ["remoteHits", "remote_hits", "Keys read from the store and found"],
  ["nearFills", "near_fills", "Remote reads kept in the near cache"],
  ["nearFillsSkipped", "near_fills_skipped", "Remote reads not kept: the key was invalidated while in flight"],
  ["invalidationsSent", "invalidations_sent", "Keys this instance invalidated elsewhere"],
  ["invalidationsReceived", "invalidations_received", "Keys other instances invalidated here"],
  ["nearFlushes", "near_flushes", "Near cache flushes (disconnects, membership changes, by hand)"],
  ["storeErrors", "store_errors", "Store operations that failed"]
] as const).map(([field, metric, help]) => [field, `${METRIC}${metric}_total`, help])

/**
 * The counters of one instance: plain fields on the hot path, published to Effect metrics as
 * deltas every 1024 operations, every second (a timer set up by `make`) and whenever stats are
 * read. One metric update costs ~300 ns here, more than a near-cache hit itself.
 */
export class StatsCounters implements DC.DistributedCacheStats {
  nearHits = 0
  nearMisses = 0
  remoteGets = 0
  remoteHits = 0
  nearFills = 0
  nearFillsSkipped = 0
  invalidationsSent = 0
  invalidationsReceived = 0
  nearFlushes = 0
  storeErrors = 0

  private readonly publishDeltas: (source: DC.DistributedCacheStats) => void
  private operationsSincePublish = 0
  readonly nodes: (count: number) => void

  constructor(name: string) {
    const metrics = makeInstanceMetrics(name)
    this.publishDeltas = makeDeltaPublisher(metrics, definitions)
    this.nodes = metrics.gauge(`${METRIC}nodes`, "Nodes in the partition")
  }

  /** Counts one operation toward the next publication. */
  tick(): void {
    if (++this.operationsSincePublish >= 1024) this.publish()
  }

  publish(): void {
    this.operationsSincePublish = 0
    this.publishDeltas(this)
  }

  snapshot(): DC.DistributedCacheStats {
    this.publish()
    return {
      nearHits: this.nearHits,
      nearMisses: this.nearMisses,
      remoteGets: this.remoteGets,
      remoteHits: this.remoteHits,
      nearFills: this.nearFills,
      nearFillsSkipped: this.nearFillsSkipped,
      invalidationsSent: this.invalidationsSent,
      invalidationsReceived: this.invalidationsReceived,
      nearFlushes: this.nearFlushes,
      storeErrors: this.storeErrors
    }
  }
}
