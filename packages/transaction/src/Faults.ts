/**
 * Fault injection for the transaction protocols: named crash points inside coordinators and
 * participants, and a network plan that loses, duplicates or delays the messages a coordinator
 * sends to its participants.
 *
 * Coordinators read the optional `Faults` service once, when they are made; without it every
 * crash point and message is a no-op. A crash is a defect (`SimulatedCrash`): like a process that
 * dies, the coordinator takes no further protocol step (it never treats a defect as a failure to
 * compensate or abort). What it logged stays in the log, and the test then runs `recover` on a
 * fresh coordinator over the same log and participants.
 *
 * @since 0.1.0
 */
import { Cause, Context, Data, Duration, Effect, Layer, Option } from "effect"

/**
 * The defect a crash point dies with.
 *
 * @since 0.1.0
 * @category errors
 */
export class SimulatedCrash extends Data.TaggedError("SimulatedCrash")<{ readonly point: string }> {
  override get message(): string {
    return `simulated crash at "${this.point}"`
  }
}

/**
 * `true` when a cause contains a simulated crash.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCrash = <E>(cause: Cause.Cause<E>): boolean =>
  Option.isSome(Cause.find(cause, (c) =>
    Cause.isDieType(c) && c.defect instanceof SimulatedCrash ? Option.some(c.defect) : Option.none()))

/**
 * A message from a coordinator to a participant.
 *
 * @since 0.1.0
 * @category models
 */
export interface Message {
  /** The participant's id. */
  readonly to: string
  /** `prepare`, `commit`, `abort`, `canCommit`, `preCommit`, `doCommit`, `try`, `confirm`, `cancel`, ... */
  readonly operation: string
  readonly gid: string
}

/**
 * What the network does with one message.
 *
 * - `deliver`: normally.
 * - `dropRequest`: never reaches the participant; the sender waits forever (its timeout decides).
 * - `dropReply`: the participant acts, the reply is lost; the sender waits forever.
 * - `duplicate`: the participant receives it twice in a row; the sender gets the second reply.
 * - `duplicateConcurrent`: the participant receives it twice at once; the sender gets the first reply.
 * - `{ delay }`: delivered late (reordering against later messages).
 *
 * @since 0.1.0
 * @category models
 */
export type Delivery =
  | "deliver"
  | "dropRequest"
  | "dropReply"
  | "duplicate"
  | "duplicateConcurrent"
  | { readonly delay: Duration.DurationInput }

/**
 * Decides each message's fate. `n` counts the sends of the same (to, operation, gid), from 1, so a
 * plan can lose only the first attempt.
 *
 * @since 0.1.0
 * @category models
 */
export type NetworkPlan = (message: Message, n: number) => Delivery

/**
 * The fault injector.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Passes, or dies with `SimulatedCrash` when `point` is armed. Every call is recorded in `hits`. */
  readonly crashPoint: (point: string) => Effect.Effect<void>
  /** Sends one message through the network plan. */
  readonly message: <A, E, R>(message: Message, send: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Arms a one-shot crash at `point`, after letting `skip` hits pass (default 0). */
  readonly arm: (point: string, options?: { readonly skip?: number }) => Effect.Effect<void>
  /** Disarms every crash point. */
  readonly disarmAll: Effect.Effect<void>
  /** Replaces the network plan (`deliverAll` restores a healthy network). */
  readonly setNetwork: (plan: NetworkPlan) => Effect.Effect<void>
  /** Every crash point reached so far, in order. */
  readonly hits: Effect.Effect<ReadonlyArray<string>>
  /** Every message sent so far with what the plan did to it, in order. */
  readonly messages: Effect.Effect<ReadonlyArray<Message & { readonly delivery: Delivery }>>
}

/**
 * The fault injector's Tag. Coordinators use it when present.
 *
 * @since 0.1.0
 * @category models
 */
export class Faults extends Context.Tag("@rampart/transaction/Faults")<Faults, Service>() {}

/**
 * A healthy network.
 *
 * @since 0.1.0
 * @category constructors
 */
export const deliverAll: NetworkPlan = () => "deliver"

/**
 * A network plan that cuts the coordinator off from the listed participants: requests to them are
 * lost (`dropRequest`); other messages are delivered.
 *
 * @since 0.1.0
 * @category constructors
 */
export const partition = (isolated: Iterable<string>): NetworkPlan => {
  const cut = new Set(isolated)
  return (message) => (cut.has(message.to) ? "dropRequest" : "deliver")
}

/**
 * No faults: what a coordinator uses when no `Faults` service is provided.
 *
 * @since 0.1.0
 * @category constructors
 */
export const none: Service = {
  crashPoint: () => Effect.void,
  message: (_message, send) => send,
  arm: () => Effect.void,
  disarmAll: Effect.void,
  setNetwork: () => Effect.void,
  hits: Effect.succeed([]),
  messages: Effect.succeed([])
}

/**
 * Makes a fault injector with nothing armed and a healthy network.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service> = Effect.sync(() => {
  const armed = new Map<string, number>()
  const hits: Array<string> = []
  const sent: Array<Message & { readonly delivery: Delivery }> = []
  const sends = new Map<string, number>()
  let plan: NetworkPlan = deliverAll
  const service: Service = {
    crashPoint: (point) =>
      Effect.suspend(() => {
        hits.push(point)
        const skip = armed.get(point)
        if (skip === undefined) return Effect.void
        if (skip > 0) {
          armed.set(point, skip - 1)
          return Effect.void
        }
        armed.delete(point)
        return Effect.die(new SimulatedCrash({ point }))
      }),
    message: (message, send) =>
      Effect.suspend(() => {
        const key = `${message.to}\u0000${message.operation}\u0000${message.gid}`
        const n = (sends.get(key) ?? 0) + 1
        sends.set(key, n)
        const delivery = plan(message, n)
        sent.push({ ...message, delivery })
        if (delivery === "deliver") return send
        if (delivery === "dropRequest") return Effect.never
        if (delivery === "dropReply") return Effect.zipRight(Effect.exit(send), Effect.never)
        if (delivery === "duplicate") return Effect.zipRight(Effect.exit(send), send)
        if (delivery === "duplicateConcurrent") {
          return Effect.map(Effect.all([Effect.exit(send), Effect.exit(send)], { concurrency: 2 }), ([first]) => first)
            .pipe(Effect.flatten)
        }
        return Effect.zipRight(Effect.sleep(Duration.decode(delivery.delay)), send)
      }),
    arm: (point, options) => Effect.sync(() => void armed.set(point, Math.max(0, options?.skip ?? 0))),
    disarmAll: Effect.sync(() => armed.clear()),
    setNetwork: (next) => Effect.sync(() => void (plan = next)),
    hits: Effect.sync(() => hits.slice()),
    messages: Effect.sync(() => sent.slice())
  }
  return service
})

/**
 * A layer with a fresh fault injector.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Faults> = Layer.effect(Faults, make)

/**
 * The provided fault injector, or `none`. Coordinators call this once in `make`.
 *
 * @since 0.1.0
 * @category getters
 */
export const current: Effect.Effect<Service> = Effect.map(Effect.serviceOption(Faults), Option.getOrElse(() => none))
