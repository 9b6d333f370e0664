import { Effect, PubSub, Stream } from "effect"

/**
 * A broadcast of a policy's events. Publishing is synchronous (state changes happen inside
 * synchronous hot-path code) and never blocks: a subscriber that falls more than `capacity`
 * events behind loses the oldest ones.
 */
export interface EventHub<A> {
  readonly publish: (event: A) => void
  readonly stream: Stream.Stream<A>
}

export const makeEventHub = <A>(capacity = 1024): Effect.Effect<EventHub<A>> =>
  Effect.map(PubSub.sliding<A>(capacity), (pubsub) => ({
    publish: (event: A) => {
      pubsub.unsafeOffer(event)
    },
    stream: Stream.fromPubSub(pubsub)
  }))
