import { Context, Schema } from "effect"
import type * as CS from "../CacheStore.js"

/**
 * Raised by a cache store that could not answer: the node is unknown, down, or the server
 * returned an error. Carries the node and the operation so a caller can tell which shard failed.
 */
export class CacheStoreError extends Schema.TaggedError<CacheStoreError>("@rampart/cache/CacheStoreError")(
  "CacheStoreError",
  {
    node: Schema.String,
    operation: Schema.String,
    reason: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {
  override get message(): string {
    return `cache store node "${this.node}" failed to ${this.operation}: ${this.reason}`
  }
}

export class CacheStore extends Context.Tag("@rampart/cache/CacheStore")<CacheStore, CS.Service>() {}

/** The pub/sub channel that carries one cache's invalidations. */
export const channelPrefix = "rampart:cache:invalidate:"
export const channelFor = (cache: string): string => channelPrefix + cache

/** Invalidations travel as `{"origin":"...","keys":[...]}` on the cache's channel. */
export const encodeInvalidation = (invalidation: CS.Invalidation): string =>
  JSON.stringify({ origin: invalidation.origin, keys: invalidation.keys })

/** Decodes a message received on `channel`; `undefined` for anything malformed (never trusted blindly). */
export const decodeInvalidation = (cache: string, payload: string): CS.Invalidation | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(payload)
  } catch {
    return undefined
  }
  if (typeof parsed !== "object" || parsed === null) return undefined
  const { keys, origin } = parsed as { readonly origin?: unknown; readonly keys?: unknown }
  if (typeof origin !== "string" || !Array.isArray(keys)) return undefined
  if (!keys.every((key): key is string => typeof key === "string")) return undefined
  return { cache, origin, keys }
}

/**
 * The subscriptions of one store: which subscribers listen to which cache's invalidations, and
 * every subscriber for connection changes. Shared by the memory and Redis stores.
 */
export class Subscriptions {
  private readonly byCache = new Map<string, Set<CS.Subscriber>>()

  /** Adds a subscriber; true when it is the first one for `cache` (the channel must be subscribed). */
  add(cache: string, subscriber: CS.Subscriber): boolean {
    const existing = this.byCache.get(cache)
    if (existing !== undefined) {
      existing.add(subscriber)
      return false
    }
    this.byCache.set(cache, new Set([subscriber]))
    return true
  }

  /** Removes a subscriber; true when it was the last one for `cache` (the channel may be dropped). */
  remove(cache: string, subscriber: CS.Subscriber): boolean {
    const existing = this.byCache.get(cache)
    if (existing === undefined) return false
    existing.delete(subscriber)
    if (existing.size > 0) return false
    this.byCache.delete(cache)
    return true
  }

  caches(): ReadonlyArray<string> {
    return [...this.byCache.keys()]
  }

  deliver(node: string, invalidation: CS.Invalidation): void {
    const subscribers = this.byCache.get(invalidation.cache)
    if (subscribers === undefined) return
    for (const subscriber of subscribers) subscriber.onInvalidation(node, invalidation)
  }

  connectionChanged(node: string, connected: boolean): void {
    for (const subscribers of this.byCache.values()) {
      for (const subscriber of subscribers) subscriber.onConnectionChange(node, connected)
    }
  }
}
