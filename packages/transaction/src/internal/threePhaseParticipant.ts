import { makeEventHub } from "@rampart/core/EventHub"
import { decodeOptions, Name, PositiveDuration } from "@rampart/core/Options"
import type { Context, Fiber, Scope } from "effect"
import { Duration, Effect, Either, FiberId, Schema } from "effect"
import { type InvalidOptions, type ParticipantError, ParticipantOperation } from "../Errors.js"
import type { Gid } from "../Gid.js"
import { no, type Vote, yes } from "../Participant.js"
import type * as TPC from "../ThreePhaseCommit.js"

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** @internal */
export class UnilateralOutcome extends Schema.TaggedError<UnilateralOutcome>(
  "@rampart/transaction/UnilateralOutcome"
)("UnilateralOutcome", {
  participant: Schema.String,
  gid: Schema.String,
  /** What the participant already did with the branch. */
  outcome: Schema.Literal("committed", "aborted"),
  /** The message that asked for the opposite. */
  operation: ParticipantOperation
}) {
  override get message(): string {
    return `participant "${this.participant}" cannot ${this.operation} "${this.gid}": it already ${this.outcome} it on its own`
  }
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

const isFunction = (u: unknown): u is (gid: Gid) => Effect.Effect<unknown, unknown, unknown> =>
  typeof u === "function"

const Operation = Schema.declare(isFunction, { identifier: "Operation", description: "a function (gid) => Effect" })

/** @internal */
export const ThreePhaseParticipantOptions = Schema.Struct({
  id: Name,
  timeout: PositiveDuration.pipe(
    Schema.filter((duration) => Duration.isFinite(duration) || "Expected a finite duration")
  ),
  // The resource may be any object with these three operations (a 2PC `Participant` with its id, a
  // class instance): other fields are not ours to judge.
  resource: Schema.Struct({ prepare: Operation, commit: Operation, abort: Operation }).annotations({
    parseOptions: { onExcessProperty: "ignore" }
  })
})

const decode = decodeOptions("ThreePhaseCommit.participant", ThreePhaseParticipantOptions)

// ---------------------------------------------------------------------------------------------
// The local state machine
// ---------------------------------------------------------------------------------------------

/** @internal */
export const ParticipantTypeId: TPC.ParticipantTypeId = Symbol.for(
  "@rampart/transaction/ThreePhaseCommit/Participant"
) as TPC.ParticipantTypeId

type State = TPC.ParticipantState

interface Branch {
  state: State
  /** Serialises messages and the timer of one gid (duplicates may arrive concurrently). */
  readonly lock: Effect.Semaphore
  /** Bumped on every transition: a timer armed in an older epoch does nothing. */
  epoch: number
  timer: Fiber.RuntimeFiber<void> | undefined
}

/** @internal */
export const isLocalParticipant = (u: unknown): u is TPC.LocalParticipant =>
  typeof u === "object" && u !== null && ParticipantTypeId in u

/** @internal */
export const makeParticipant = <R>(
  input: TPC.ThreePhaseParticipantOptionsInput<R>
): Effect.Effect<TPC.LocalParticipant, InvalidOptions, Scope.Scope | R> =>
  Effect.gen(function*() {
    const options = yield* decode(input)
    const resource = input.resource
    const context: Context.Context<R> = yield* Effect.context<R>()
    const scope = yield* Effect.scope
    const clock = yield* Effect.clock
    const hub = yield* makeEventHub<TPC.ParticipantEvent>()
    const id = options.id
    const timeoutMillis = Duration.toMillis(options.timeout)
    const branches = new Map<string, Branch>()

    const branchOf = (gid: string): Branch => {
      let branch = branches.get(gid)
      if (branch === undefined) {
        branch = { state: "Initial", lock: Effect.unsafeMakeSemaphore(1), epoch: 0, timer: undefined }
        branches.set(gid, branch)
      }
      return branch
    }

    const disarm = (branch: Branch) => {
      const timer = branch.timer
      branch.timer = undefined
      if (timer !== undefined) timer.unsafeInterruptAsFork(FiberId.none)
    }

    const transition = (branch: Branch, gid: string, to: State, cause: "message" | "timeout") => {
      const from = branch.state
      branch.state = to
      branch.epoch++
      if (from !== to) {
        hub.publish({
          _tag: "ParticipantStateChanged",
          participant: id,
          gid,
          from,
          to,
          cause,
          timestamp: clock.unsafeCurrentTimeMillis()
        })
      }
    }

    const conflict = (gid: string, outcome: "committed" | "aborted", operation: "preCommit" | "doCommit" | "abort") =>
      Effect.fail(new UnilateralOutcome({ participant: id, gid, outcome, operation }))

    // The participant-side timeout: Waiting -> abort, PreCommitted -> commit. The deadline is fixed
    // when the timer is armed (not when its fiber first runs), so TestClock moves are exact.
    const arm = (branch: Branch, gid: Gid): Effect.Effect<void> =>
      Effect.suspend(() => {
        const epoch = branch.epoch
        const deadline = clock.unsafeCurrentTimeMillis() + timeoutMillis
        const wait = Effect.suspend(() =>
          clock.sleep(Duration.millis(Math.max(0, deadline - clock.unsafeCurrentTimeMillis())))
        )
        return Effect.map(
          // Armed from inside a message's uninterruptible section: the timer itself must stay
          // interruptible, or disarming it and closing the scope would wait for it to fire.
          Effect.forkIn(Effect.interruptible(Effect.zipRight(wait, onTimeout(branch, gid, epoch))), scope),
          (fiber) => void (branch.timer = fiber)
        )
      })

    const onTimeout = (branch: Branch, gid: Gid, epoch: number): Effect.Effect<void> =>
      branch.lock.withPermits(1)(Effect.uninterruptible(Effect.suspend(() => {
        if (branch.epoch !== epoch) return Effect.void
        branch.timer = undefined
        if (branch.state !== "Waiting" && branch.state !== "PreCommitted") return Effect.void
        const committing = branch.state === "PreCommitted"
        const action = committing ? resource.commit(gid) : resource.abort(gid)
        return Effect.flatMap(Effect.either(Effect.provide(action, context)), (result) => {
          // The resource failed: keep the state and try again after another timeout.
          if (Either.isLeft(result)) return arm(branch, gid)
          transition(branch, gid, committing ? "Committed" : "Aborted", "timeout")
          return Effect.void
        })
      })))

    // Once a message holds the lock it runs to the end: a coordinator timeout interrupting it
    // half-way would leave the resource and the state machine disagreeing.
    const locked = <A, E>(gid: Gid, body: (branch: Branch) => Effect.Effect<A, E, R>): Effect.Effect<A, E> =>
      Effect.suspend(() => {
        const branch = branchOf(gid)
        return branch.lock.withPermits(1)(Effect.uninterruptible(Effect.provide(body(branch), context)))
      })

    const canCommit = (gid: Gid): Effect.Effect<Vote, ParticipantError> =>
      locked(gid, (branch): Effect.Effect<Vote, ParticipantError, R> => {
        switch (branch.state) {
          case "Aborted":
            return Effect.succeed(no("the branch is already aborted"))
          case "Initial":
            return Effect.flatMap(Effect.either(resource.prepare(gid)), (result) => {
              if (Either.isRight(result) && result.right._tag === "Yes") {
                transition(branch, gid, "Waiting", "message")
                return Effect.as(arm(branch, gid), yes)
              }
              // It never voted yes, so it may abort on its own at once (and says no from now on).
              return Effect.zipRight(
                Effect.either(resource.abort(gid)),
                Effect.suspend(() => {
                  transition(branch, gid, "Aborted", "message")
                  return Either.isLeft(result) ? Effect.fail(result.left) : Effect.succeed(result.right)
                })
              )
            })
          default:
            // Waiting, PreCommitted, Committed: a duplicate; the vote was yes.
            return Effect.succeed(yes)
        }
      })

    const preCommit = (gid: Gid): Effect.Effect<void, ParticipantError | UnilateralOutcome> =>
      locked(gid, (branch): Effect.Effect<void, UnilateralOutcome, R> => {
        switch (branch.state) {
          case "Waiting":
            disarm(branch)
            transition(branch, gid, "PreCommitted", "message")
            return arm(branch, gid)
          case "Initial":
            // Never voted: presumed aborted; remember it so a late canCommit says no.
            transition(branch, gid, "Aborted", "message")
            return conflict(gid, "aborted", "preCommit")
          case "Aborted":
            return conflict(gid, "aborted", "preCommit")
          default:
            return Effect.void
        }
      })

    const doCommit = (gid: Gid): Effect.Effect<void, ParticipantError | UnilateralOutcome> =>
      locked(gid, (branch): Effect.Effect<void, ParticipantError | UnilateralOutcome, R> => {
        switch (branch.state) {
          case "Waiting":
          case "PreCommitted":
            // doCommit is only sent once commit is decided: a Waiting branch that missed preCommit
            // learns the decision here. Pre-commit first, so a failing commit is retried by the
            // timer instead of the Waiting timer aborting a committed transaction.
            if (branch.state === "Waiting") {
              disarm(branch)
              transition(branch, gid, "PreCommitted", "message")
            }
            return Effect.flatMap(Effect.either(resource.commit(gid)), (result) => {
              if (Either.isLeft(result)) {
                return branch.timer === undefined
                  ? Effect.zipRight(arm(branch, gid), Effect.fail(result.left))
                  : Effect.fail(result.left)
              }
              disarm(branch)
              transition(branch, gid, "Committed", "message")
              return Effect.void
            })
          case "Initial":
            transition(branch, gid, "Aborted", "message")
            return conflict(gid, "aborted", "doCommit")
          case "Aborted":
            return conflict(gid, "aborted", "doCommit")
          default:
            return Effect.void
        }
      })

    const abort = (gid: Gid): Effect.Effect<void, ParticipantError | UnilateralOutcome> =>
      locked(gid, (branch): Effect.Effect<void, ParticipantError | UnilateralOutcome, R> => {
        switch (branch.state) {
          case "Aborted":
            return Effect.void
          case "Committed":
            return conflict(gid, "committed", "abort")
          default:
            // Initial too: prepare may have run for a canCommit whose answer was lost.
            return Effect.map(resource.abort(gid), () => {
              disarm(branch)
              transition(branch, gid, "Aborted", "message")
            })
        }
      })

    const unsafeState = (gid: string): State => branches.get(gid)?.state ?? "Initial"

    const participant: TPC.LocalParticipant = {
      [ParticipantTypeId]: ParticipantTypeId,
      id,
      timeout: options.timeout,
      canCommit,
      preCommit,
      doCommit,
      abort,
      state: (gid) => Effect.sync(() => unsafeState(gid)),
      unsafeState,
      events: hub.stream
    }
    return participant
  })
