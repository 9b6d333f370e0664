import { Effect } from "effect"
import type { Redis as IORedis } from "ioredis"
import { CacheStoreError } from "./cacheStore.js"

type Resume = (effect: Effect.Effect<string | null, CacheStoreError>) => void

const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/**
 * Coalesces the single-key reads of one node issued in the same turn of the event loop into one
 * `MGET` (the DataLoader trick). A hundred fibers resumed together by one batch of replies ask for
 * their next keys together, and one MGET of a hundred keys costs the client (one command object,
 * one promise, one reply) and the server far less than a hundred GETs, even auto-pipelined.
 * Semantics are unchanged: each key is read once, atomically, at a point after it was asked for.
 */
export class GetBatcher {
  private keys: Array<string> = []
  private waiters: Array<Resume> = []
  private scheduled = false

  constructor(
    private readonly node: string,
    private readonly maxBatch: number,
    private readonly reach: (operation: string) => IORedis | CacheStoreError
  ) {}

  readonly get = (key: string): Effect.Effect<string | null, CacheStoreError> =>
    Effect.async<string | null, CacheStoreError>((resume) => {
      const client = this.reach("get")
      if (client instanceof CacheStoreError) return resume(Effect.fail(client))
      this.keys.push(key)
      this.waiters.push(resume)
      if (this.keys.length >= this.maxBatch) this.flush()
      else if (!this.scheduled) {
        this.scheduled = true
        // A microtask: after the fibers resumed in this turn have asked, before any I/O.
        queueMicrotask(this.flushScheduled)
      }
    })

  private readonly flushScheduled = () => {
    this.scheduled = false
    this.flush()
  }

  private flush() {
    const keys = this.keys
    const waiters = this.waiters
    if (keys.length === 0) return
    this.keys = []
    this.waiters = []
    const client = this.reach("get")
    if (client instanceof CacheStoreError) {
      for (const resume of waiters) resume(Effect.fail(client))
      return
    }
    const fail = (cause: unknown) => {
      const error = new CacheStoreError({ node: this.node, operation: "get", reason: reasonOf(cause), cause })
      for (const resume of waiters) resume(Effect.fail(error))
    }
    if (keys.length === 1) {
      client.get(keys[0]!).then((value) => waiters[0]!(Effect.succeed(value)), fail)
      return
    }
    client.mget(keys).then((values) => {
      for (let i = 0; i < waiters.length; i++) waiters[i]!(Effect.succeed(values[i] ?? null))
    }, fail)
  }
}
