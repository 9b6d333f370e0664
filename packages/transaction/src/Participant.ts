/**
 * A two-phase-commit participant: something that can make a branch of work durable-but-undecided
 * (`prepare`), then make it permanent (`commit`) or undo it (`abort`).
 *
 * All three operations are idempotent and keyed by gid: the coordinator retries them, duplicates
 * them and sends them again after a crash. `commit` and `abort` of a gid the participant does not
 * know must succeed ("already done or never prepared"): only the coordinator's log knows which.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import type { ParticipantError } from "./Errors.js"
import type { Gid } from "./Gid.js"

/**
 * A participant's answer to `prepare`.
 *
 * @since 0.1.0
 * @category models
 */
export type Vote =
  | { readonly _tag: "Yes" }
  | { readonly _tag: "No"; readonly reason: string }

/**
 * @since 0.1.0
 * @category constructors
 */
export const yes: Vote = { _tag: "Yes" }

/**
 * @since 0.1.0
 * @category constructors
 */
export const no = (reason: string): Vote => ({ _tag: "No", reason })

/**
 * A 2PC participant.
 *
 * - `prepare(gid)`: do (or finish) the branch's work and make it durable without deciding it;
 *   answer `Yes` only when a later `commit` cannot fail for business reasons. A `No`, an error or
 *   no answer in time all make the coordinator abort.
 * - `commit(gid)` / `abort(gid)`: apply or discard the prepared branch. Idempotent; an unknown gid
 *   is success.
 *
 * `id` names the participant in the log: recovery finds it again by this id, so it must be stable
 * across restarts.
 *
 * @since 0.1.0
 * @category models
 */
export interface Participant<R = never> {
  readonly id: string
  readonly prepare: (gid: Gid) => Effect.Effect<Vote, ParticipantError, R>
  readonly commit: (gid: Gid) => Effect.Effect<void, ParticipantError, R>
  readonly abort: (gid: Gid) => Effect.Effect<void, ParticipantError, R>
}
