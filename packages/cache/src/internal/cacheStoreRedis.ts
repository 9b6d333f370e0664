import { Duration, Effect, ExecutionStrategy, Exit, Schema, Scope } from "effect"
import type { Redis as IORedis } from "ioredis"
import { connect, type RedisError } from "@rampart/core/Redis"
import { decodeOptions, type InvalidOptions, Name, PositiveDuration, PositiveInt } from "@rampart/core/Options"
import type * as CS from "../CacheStore.js"
import {
  CacheStoreError,
  channelFor,
  channelPrefix,
  decodeInvalidation,
  encodeInvalidation,
  Subscriptions
} from "./cacheStore.js"
import { GetBatcher } from "./cacheStoreRedisBatch.js"

const RedisNodeOptions = Schema.Struct({
  id: Name,
  url: Schema.String.pipe(
    Schema.pattern(/^rediss?:\/\/.+/, { message: () => "Expected a URL like redis://host:6379/0" })
  )
})

export const RedisCacheStoreOptions = Schema.Struct({
  nodes: Schema.Array(RedisNodeOptions).pipe(Schema.minItems(1)),
  connectTimeout: Schema.optionalWith(PositiveDuration, { default: () => Duration.seconds(5) }),
  batchGets: Schema.optionalWith(Schema.Boolean, { default: () => true }),
  maxBatchSize: Schema.optionalWith(PositiveInt, { default: () => 512 })
})

export type RedisCacheStoreOptions = typeof RedisCacheStoreOptions.Type
export type RedisCacheStoreOptionsInput = typeof RedisCacheStoreOptions.Encoded

const decode = decodeOptions("RedisCacheStore", RedisCacheStoreOptions)

const ignore = (): void => undefined

const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/**
 * One node: a command connection and a subscriber connection. The node is connected while both
 * are ready AND the subscriber has acknowledged its SUBSCRIBE for every cache channel: only then
 * are all invalidations published after that point certain to reach us. `attempt` numbers the
 * subscriber's (re)subscriptions so a late acknowledgement of an old one is ignored.
 */
interface RedisNode {
  readonly id: string
  readonly url: string
  readonly scope: Scope.CloseableScope
  client: IORedis | undefined
  subscriber: IORedis | undefined
  clientReady: boolean
  subscriberReady: boolean
  connected: boolean
  attempt: number
  closing: boolean
  batcher: GetBatcher | undefined
}

export const makeRedis = (
  input: RedisCacheStoreOptionsInput
): Effect.Effect<CS.Service, CacheStoreError | InvalidOptions, Scope.Scope> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const storeScope = yield* Effect.scope
    const nodes = new Map<string, RedisNode>()
    const subscriptions = new Subscriptions()
    const connectTimeout = options.connectTimeout

    const updateConnected = (node: RedisNode) => {
      const connected = !node.closing && node.clientReady && node.subscriberReady
      if (connected === node.connected) return
      node.connected = connected
      subscriptions.connectionChanged(node.id, connected)
    }

    /** (Re)subscribes every cache channel; the node counts as connected once Redis acknowledged. */
    const resubscribe = (node: RedisNode) => {
      const subscriber = node.subscriber
      if (subscriber === undefined) return
      const attempt = ++node.attempt
      const caches = subscriptions.caches()
      const channels = caches.map(channelFor)
      const done = () => {
        if (attempt !== node.attempt || subscriber.status !== "ready") return
        // A cache that subscribed meanwhile may have found this node not ready: go again.
        if (subscriptions.caches().some((cache) => !caches.includes(cache))) return resubscribe(node)
        node.subscriberReady = true
        updateConnected(node)
      }
      if (channels.length === 0) done()
      else subscriber.subscribe(...channels).then(done, () => {})
    }

    const watch = (node: RedisNode, client: IORedis, role: "client" | "subscriber") => {
      const down = () => {
        if (role === "client") node.clientReady = false
        else {
          node.subscriberReady = false
          node.attempt++
        }
        updateConnected(node)
      }
      const ready = () => {
        if (role === "client") {
          node.clientReady = true
          updateConnected(node)
        } else resubscribe(node)
      }
      client.on("close", down)
      client.on("end", down)
      client.on("reconnecting", down)
      client.on("ready", ready)
      return () => {
        client.off("close", down)
        client.off("end", down)
        client.off("reconnecting", down)
        client.off("ready", ready)
      }
    }

    const onMessage = (node: RedisNode) => (channel: string, payload: string) => {
      if (!channel.startsWith(channelPrefix)) return
      const invalidation = decodeInvalidation(channel.slice(channelPrefix.length), payload)
      if (invalidation !== undefined) subscriptions.deliver(node.id, invalidation)
    }

    const failure = (id: string, operation: string) => (cause: unknown) =>
      new CacheStoreError({ node: id, operation, reason: reasonOf(cause), cause })

    const toStoreError = (id: string, operation: string) => (error: RedisError | InvalidOptions) =>
      new CacheStoreError({ node: id, operation, reason: error.message, cause: error })

    const openNode = (id: string, url: string): Effect.Effect<void, CacheStoreError> =>
      Effect.gen(function*() {
        const scope = yield* Scope.fork(storeScope, ExecutionStrategy.sequential)
        const node: RedisNode = {
          id,
          url,
          scope,
          client: undefined,
          subscriber: undefined,
          clientReady: false,
          subscriberReady: false,
          connected: false,
          attempt: 0,
          closing: false,
          batcher: undefined
        }
        // Listed (not connected) while opening, so a cache subscribing meanwhile sees it.
        nodes.set(id, node)
        const opened = yield* Effect.exit(
          Effect.gen(function*() {
            const client = yield* connect({ url, name: `rampart-cache-${id}`, connectTimeout })
            const subscriber = yield* connect({ url, name: `rampart-cache-${id}-sub`, connectTimeout })
            // Added after `connect`, so they run before its `QUIT`: a deliberate close is no outage.
            const unwatchClient = watch(node, client, "client")
            const unwatchSubscriber = watch(node, subscriber, "subscriber")
            const listener = onMessage(node)
            subscriber.on("message", listener)
            yield* Effect.addFinalizer(() =>
              Effect.sync(() => {
                node.closing = true
                unwatchClient()
                unwatchSubscriber()
                subscriber.off("message", listener)
                updateConnected(node)
              })
            )
            node.client = client
            node.subscriber = subscriber
            node.clientReady = client.status === "ready"
            // Every cache channel, including those of caches that subscribe while this runs.
            const subscribed = new Set<string>()
            while (true) {
              const missing = subscriptions.caches().filter((cache) => !subscribed.has(cache))
              if (missing.length === 0) break
              yield* Effect.tryPromise({
                try: () => subscriber.subscribe(...missing.map(channelFor)),
                catch: failure(id, "subscribe")
              })
              for (const cache of missing) subscribed.add(cache)
            }
            node.subscriberReady = subscriber.status === "ready"
          }).pipe(
            Effect.mapError((error) => error instanceof CacheStoreError ? error : toStoreError(id, "connect")(error)),
            Scope.extend(scope)
          )
        )
        if (Exit.isFailure(opened)) {
          nodes.delete(id)
          yield* Scope.close(scope, Exit.void)
          return yield* Effect.failCause(opened.cause)
        }
        if (options.batchGets) node.batcher = new GetBatcher(id, options.maxBatchSize, (operation) => reach(id, operation))
        updateConnected(node)
      })

    /** The node's command connection when the node is connected; otherwise the error to fail with. */
    const reach = (id: string, operation: string): IORedis | CacheStoreError => {
      const node = nodes.get(id)
      if (node === undefined) return new CacheStoreError({ node: id, operation, reason: "unknown node" })
      if (!node.connected || node.client === undefined) {
        return new CacheStoreError({ node: id, operation, reason: "disconnected" })
      }
      return node.client
    }

    /**
     * One command as one `Effect.async` over the promise: no `suspend`, no AbortSignal (once sent
     * a command cannot be recalled; interrupting the caller just drops the reply).
     */
    const command = <A>(
      id: string,
      operation: string,
      run: (client: IORedis) => Promise<A>
    ): Effect.Effect<A, CacheStoreError> =>
      Effect.async<A, CacheStoreError>((resume) => {
        const client = reach(id, operation)
        if (client instanceof CacheStoreError) return resume(Effect.fail(client))
        run(client).then(
          (value) => resume(Effect.succeed(value)),
          (cause) => resume(Effect.fail(failure(id, operation)(cause)))
        )
      })

    for (const node of options.nodes) {
      if (!nodes.has(node.id)) yield* openNode(node.id, node.url)
    }

    const store: CS.Service = {
      backend: "redis",
      nodeIds: () => [...nodes.keys()],
      isConnected: (id) => nodes.get(id)?.connected === true,
      get: (id, key) => {
        const batcher = nodes.get(id)?.batcher
        return batcher === undefined ? command(id, "get", (client) => client.get(key)) : batcher.get(key)
      },
      getMany: (id, keys) =>
        keys.length === 0 ? Effect.succeed([]) : command(id, "getMany", (client) => client.mget(keys as Array<string>)),
      set: (id, key, value, ttlMillis, invalidation) =>
        command(id, "set", (client) => {
          const write = ttlMillis === undefined
            ? client.set(key, value)
            : client.set(key, value, "PX", Math.max(1, Math.round(ttlMillis)))
          if (invalidation === undefined) return write.then(ignore)
          // Same connection, same tick: auto-pipelining sends both in one round trip, in order.
          const publish = client.publish(channelFor(invalidation.cache), encodeInvalidation(invalidation))
          return Promise.all([write, publish]).then(ignore)
        }),
      delete: (id, keys, invalidation) =>
        command(id, "delete", (client) => {
          const removal = keys.length === 0 ? Promise.resolve(0) : client.del(...keys)
          if (invalidation === undefined) return removal.then(ignore)
          const publish = client.publish(channelFor(invalidation.cache), encodeInvalidation(invalidation))
          return Promise.all([removal, publish]).then(ignore)
        }),
      publish: (id, invalidation) =>
        command(id, "publish", (client) =>
          client.publish(channelFor(invalidation.cache), encodeInvalidation(invalidation)).then(ignore)),
      subscribe: (cache, subscriber) =>
        Effect.acquireRelease(
          Effect.suspend(() => {
            if (!subscriptions.add(cache, subscriber)) return Effect.void
            // First subscriber of this cache: SUBSCRIBE its channel on every node whose subscriber
            // connection is up (one that is not subscribes every channel when it is ready again).
            return Effect.forEach(
              [...nodes.values()].filter((node) => node.subscriber?.status === "ready"),
              (node) =>
                Effect.tryPromise({
                  try: () => node.subscriber!.subscribe(channelFor(cache)),
                  catch: failure(node.id, "subscribe")
                }),
              { concurrency: "unbounded", discard: true }
            ).pipe(Effect.tapError(() => Effect.sync(() => subscriptions.remove(cache, subscriber))))
          }),
          () =>
            Effect.suspend(() => {
              if (!subscriptions.remove(cache, subscriber)) return Effect.void
              return Effect.forEach(
                [...nodes.values()].filter((node) => node.connected && node.subscriber !== undefined),
                (node) => Effect.promise(() => node.subscriber!.unsubscribe(channelFor(cache)).catch(() => 0)),
                { concurrency: "unbounded", discard: true }
              )
            })
        ),
      addNode: (node) =>
        Effect.suspend(() => {
          if (nodes.has(node.id)) return Effect.void
          if (node.url === undefined) {
            return Effect.fail(
              new CacheStoreError({ node: node.id, operation: "addNode", reason: "a Redis node needs a url" })
            )
          }
          return openNode(node.id, node.url)
        }),
      removeNode: (id) =>
        Effect.suspend(() => {
          const node = nodes.get(id)
          if (node === undefined) return Effect.void
          nodes.delete(id)
          return Scope.close(node.scope, Exit.void)
        })
    }
    return store
  })
