/**
 * A synchronous, never-blocking broadcast of an instance's events as a `Stream`.
 *
 * @since 0.1.0
 */
import { Effect, PubSub, Stream } from "effect"

/**
 * A broadcast of a policy's events. Publishing is synchronous (state changes happen inside
 * synchronous hot-path code) and never blocks: a subscriber that falls more than `capacity`
 * events behind loses the oldest ones.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventHub<A> {
  readonly publish: (event: A) => void
  readonly stream: Stream.Stream<A>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const makeEventHub = <A>(capacity = 1024): Effect.Effect<EventHub<A>> =>
  Effect.map(PubSub.sliding<A>(capacity), (pubsub) => ({
    publish: (event: A) => {
      pubsub.unsafeOffer(event)
    },
    stream: Stream.fromPubSub(pubsub)
  }))
